package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/localproc"
)

// database is the PostgreSQL a benchmark runs on: a fresh database, on a server the benchmark
// either started itself (a private cluster on a unix socket) or was given by URL.
type database struct {
	URL   string // pgx and libpq (pgbench, psql) alike
	Admin string // the server's maintenance database, for CREATE/DROP DATABASE
	Name  string
	What  string // for the report: how the server was reached

	stop func() // stops the private cluster; nil for a given server
}

// pgBinDir finds PostgreSQL's server programs (Debian keeps them out of PATH).
func pgBinDir() (string, error) {
	if dir := os.Getenv("BENCH_PG_BINDIR"); dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", errors.New("no initdb: install PostgreSQL's server package or give BENCH_DATABASE_URL")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// openDatabase gives the benchmark a fresh database. With BENCH_DATABASE_URL (or else
// TEST_DATABASE_URL) set, it is created on that server (and dropped at the end); otherwise a
// private PostgreSQL cluster is started in a temporary directory with fsync on, reached over a
// unix socket on port BENCH_PG_PORT (default 18810), as the issue measured; stop removes it.
func openDatabase(ctx context.Context, logf func(string, ...any)) (*database, error) {
	name := fmt.Sprintf("toodoo_bench_%d", os.Getpid())
	if admin := firstEnv("BENCH_DATABASE_URL", "TEST_DATABASE_URL"); admin != "" {
		d := &database{Admin: admin, Name: name, What: "given server (" + redact(admin) + ")"}
		if err := d.create(ctx); err != nil {
			return nil, err
		}
		return d, nil
	}
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	port := envInt("BENCH_PG_PORT", 18810)
	dir, err := os.MkdirTemp("", "toodoo-bench-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := localproc.Unprivileged() // initdb and postgres refuse root
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		cred = nil
	} else if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return nil, err
	}
	as := func(cmd *exec.Cmd) *exec.Cmd {
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return cmd
	}
	data := filepath.Join(dir, "data")
	logf("initdb %s", data)
	if out, err := as(exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	tail := &localproc.TailBuffer{Max: 4096}
	srv := as(exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=", "-c", "fsync=on", "-c", "max_connections=300", "-c", "shared_buffers=128MB"))
	srv.Stdout, srv.Stderr = tail, tail
	if err := srv.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	stop := func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	admin := fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d", url.QueryEscape(dir), port)
	d := &database{Admin: admin, Name: name, What: fmt.Sprintf("private PostgreSQL cluster (%s, fsync on, unix socket)", bin), stop: stop}
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			c.Close(ctx)
			break
		}
		select {
		case err := <-done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %v: %s", err, tail)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("postgres did not start: %v: %s", err, tail)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.create(ctx); err != nil {
		stop()
		return nil, err
	}
	return d, nil
}

func (d *database) create(ctx context.Context) error {
	c, err := pgx.Connect(ctx, d.Admin)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(d.Admin), err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{d.Name}.Sanitize()); err != nil {
		return err
	}
	u, err := url.Parse(d.Admin)
	if err != nil {
		return err
	}
	u.Path = "/" + d.Name
	d.URL = u.String()
	return nil
}

// Close drops the database and stops the private cluster, unless BENCH_KEEP=1 (to look
// further at the fleet on a given server: the database is named on stderr).
func (d *database) Close() {
	if os.Getenv("BENCH_KEEP") == "1" && d.stop == nil {
		logf("BENCH_KEEP=1: database kept: %s", redact(d.URL))
		return
	}
	if d.stop != nil {
		d.stop()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := pgx.Connect(ctx, d.Admin); err == nil {
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)")
		c.Close(ctx)
	}
}

// withParams returns the database URL with extra query parameters (pool size...).
func (d *database) withParams(kv ...string) string {
	u, _ := url.Parse(d.URL)
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil || v <= 0 {
		return def
	}
	return v
}

func envDuration(name string, def time.Duration) time.Duration {
	v, err := time.ParseDuration(os.Getenv(name))
	if err != nil || v <= 0 {
		return def
	}
	return v
}
