// Command fleet runs Toodoo the way a small production does, on one machine: several
// `toodoo serve` replicas on one database, reached through PgBouncer in transaction mode, behind
// HAProxy (round-robin, health-checked on /readyz). `go tool task fleet` runs it (deploy/fleet/
// fleet.sh: the dev database, one build, migrations, demo data); the fleet test starts the same
// fleet on its own database.
//
// Every process runs in the foreground as a child of this one, in a process group of its own (so
// that Ctrl-C reaches only this process, which stops them in order: replicas first, each
// draining, then the balancer, then the pooler) and dies with it whatever happens.
// PgBouncer refuses to run as root: as root, it runs as postgres (or nobody), like the tests'.
package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"github.com/toodoo/toodoo/internal/localproc"
)

//go:embed haproxy.cfg pgbouncer.ini
var templates embed.FS

// Config is what Start needs.
type Config struct {
	Toodoo      string        // the toodoo binary (required)
	DatabaseURL string        // a direct URL of the database, not through a pooler (required)
	SessionKeys string        // TOODOO_SESSION_KEYS, the same for every replica (required)
	SMTPURL     string        // TOODOO_SMTP_URL of the replicas' mail (required; a catcher on loopback: smtp://127.0.0.1:PORT?tls=none)
	Port        int           // the balancer's port on 127.0.0.1 (0: a free one)
	Replicas    int           // how many `toodoo serve` (default 2)
	PoolSize    int           // PgBouncer's server connections (default 10)
	DrainDelay  time.Duration // the replicas' --drain-delay
	BaseDomain  string        // default localhost
	Output      io.Writer     // every child's output, each line after its name (default discard)
}

// Fleet is a running fleet. Stop it with Stop.
type Fleet struct {
	URL       string // the balancer: http://127.0.0.1:PORT
	Port      int
	PooledURL string // the database through PgBouncer, as the replicas use it
	Replicas  []*Replica

	cfg      Config
	dir      string // configuration files
	bouncer  *proc
	balancer *proc
	stopOnce sync.Once
	stopErr  error
}

// Replica is one `toodoo serve`.
type Replica struct {
	Name string // as the balancer knows it (and sends in X-Toodoo-Replica)
	Addr string // where it listens, 127.0.0.1:PORT
	*proc
}

// Start starts PgBouncer, the replicas and HAProxy, and returns once each listens. On an error
// it stops what it started.
func Start(ctx context.Context, cfg Config) (_ *Fleet, err error) {
	if cfg.Toodoo == "" || cfg.DatabaseURL == "" || cfg.SessionKeys == "" {
		return nil, errors.New("fleet: the toodoo binary, a database URL and session keys are required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 2
	}
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = 10
	}
	if cfg.BaseDomain == "" {
		cfg.BaseDomain = "localhost"
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	haproxy, err := localproc.LookBin("haproxy")
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	pgbouncer, err := localproc.LookBin("pgbouncer")
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	f := &Fleet{cfg: cfg}
	if f.dir, err = os.MkdirTemp("", "toodoo-fleet-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Stop())
		}
	}()
	if err := localproc.RetryPortTaken(func() error { return f.startBouncer(ctx, pgbouncer) }); err != nil {
		return nil, err
	}
	for i := range cfg.Replicas {
		if err := f.startReplica(fmt.Sprintf("r%d", i+1)); err != nil {
			return nil, err
		}
	}
	for _, r := range f.Replicas {
		if err := r.waitAddr(ctx); err != nil {
			return nil, err
		}
	}
	startBalancer := func() error { return f.startBalancer(ctx, haproxy) }
	if cfg.Port == 0 { // a port of our choosing: choose again if another process took it
		err = localproc.RetryPortTaken(startBalancer)
	} else {
		err = startBalancer()
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// render executes the embedded template name with data into dir/name.
func (f *Fleet) render(name string, data any) (string, error) {
	tpl, err := template.ParseFS(templates, name)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		return "", err
	}
	p := filepath.Join(f.dir, name)
	return p, os.WriteFile(p, b.Bytes(), 0o600)
}

func (f *Fleet) startBouncer(ctx context.Context, bin string) error {
	u, err := url.Parse(f.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("fleet: database URL: %w", err)
	}
	port, err := localproc.FreePort()
	if err != nil {
		return err
	}
	password, _ := u.User.Password()
	data := struct {
		Host, ServerPort, AuthType, Dir string
		Port, PoolSize                  int
	}{Host: u.Hostname(), ServerPort: u.Port(), AuthType: "scram-sha-256", Dir: f.dir, Port: port, PoolSize: f.cfg.PoolSize}
	if data.ServerPort == "" {
		data.ServerPort = "5432"
	}
	if data.Host == "" || data.Host == "localhost" {
		data.Host = "127.0.0.1"
	}
	if password == "" {
		data.AuthType = "trust"
	}
	ini, err := f.render("pgbouncer.ini", data)
	if err != nil {
		return err
	}
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	userlist := filepath.Join(f.dir, "userlist.txt")
	if err := os.WriteFile(userlist, []byte(quote(u.User.Username())+" "+quote(password)+"\n"), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(bin, ini)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// PgBouncer refuses to run as root (as in internal/dbtest/pgbouncer.go).
		if cred, err = localproc.Unprivileged(); err != nil {
			return err
		}
		for _, p := range []string{f.dir, ini, userlist} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	if f.bouncer, err = startProc("pgbouncer", cmd, cred, f.cfg.Output, nil); err != nil {
		return err
	}
	if err := f.bouncer.waitListen(ctx, port); err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	pooled := *u
	pooled.Host = addr
	q := pooled.Query()
	q.Set("default_query_exec_mode", "exec")
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	pooled.RawQuery = q.Encode()
	f.PooledURL = pooled.String()
	return nil
}

func (f *Fleet) startReplica(name string) error {
	cmd := exec.Command(f.cfg.Toodoo, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+f.PooledURL,
		"TOODOO_DIRECT_DATABASE_URL="+f.cfg.DatabaseURL,
		"TOODOO_SESSION_KEYS="+f.cfg.SessionKeys,
		"TOODOO_BASE_DOMAIN="+f.cfg.BaseDomain,
		"TOODOO_TRUSTED_PROXIES=127.0.0.1/32",
		"TOODOO_DRAIN_DELAY="+f.cfg.DrainDelay.String(),
		"TOODOO_SMTP_URL="+f.cfg.SMTPURL,
		"TOODOO_MAIL_FROM=Toodoo fleet <fleet@localhost>",
	)
	r := &Replica{Name: name}
	addr := make(chan string, 1)
	// The replica listens on a port of its choosing and says which in its "listening" line.
	onLine := func(line string) {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" && l.Addr != "" {
			select {
			case addr <- l.Addr:
			default:
			}
		}
	}
	p, err := startProc(name, cmd, nil, f.cfg.Output, onLine)
	if err != nil {
		return err
	}
	r.proc = p
	r.addrc = addr
	f.Replicas = append(f.Replicas, r)
	return nil
}

func (r *Replica) waitAddr(ctx context.Context) error {
	select {
	case r.Addr = <-r.addrc:
		return nil
	case <-r.exited:
		return fmt.Errorf("fleet: replica %s exited: %v\n%s", r.Name, r.err, r.tail.String())
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("fleet: replica %s did not listen within 60 s:\n%s", r.Name, r.tail.String())
	}
}

func (f *Fleet) startBalancer(ctx context.Context, bin string) error {
	port := f.cfg.Port
	if port == 0 {
		var err error
		if port, err = localproc.FreePort(); err != nil {
			return err
		}
	}
	type server struct{ Name, Addr string }
	data := struct {
		Bind    string
		Servers []server
	}{Bind: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	for _, r := range f.Replicas {
		data.Servers = append(data.Servers, server{r.Name, r.Addr})
	}
	cfgPath, err := f.render("haproxy.cfg", data)
	if err != nil {
		return err
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", cfgPath).CombinedOutput(); err != nil {
		return fmt.Errorf("fleet: haproxy refuses its configuration: %v\n%s", err, out)
	}
	if f.balancer, err = startProc("haproxy", exec.Command(bin, "-db", "-f", cfgPath), nil, f.cfg.Output, nil); err != nil {
		return err
	}
	if err := f.balancer.waitListen(ctx, port); err != nil {
		return err
	}
	f.Port = port
	f.URL = "http://" + data.Bind
	return nil
}

// Stop stops the replicas (SIGTERM: each drains, then finishes its requests), then HAProxy, then
// PgBouncer, and removes the configuration files. It returns the replicas' exit errors (a
// replica stopped before by the caller counts with its own exit status).
func (f *Fleet) Stop() error {
	f.stopOnce.Do(func() {
		var errs []error
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, r := range f.Replicas {
			wg.Go(func() {
				if err := r.stop(syscall.SIGTERM, f.cfg.DrainDelay+30*time.Second); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("replica %s: %w", r.Name, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, p := range []*proc{f.balancer, f.bouncer} {
			if p != nil {
				_ = p.stop(syscall.SIGTERM, 10*time.Second) // both stop at once on SIGTERM
			}
		}
		if f.dir != "" {
			errs = append(errs, os.RemoveAll(f.dir))
		}
		f.stopErr = errors.Join(errs...)
	})
	return f.stopErr
}

// proc is a child process whose output goes, line by line, to an output and a tail kept for
// error messages.
type proc struct {
	name   string
	cmd    *exec.Cmd
	tail   *localproc.TailBuffer // the end of the output
	events *localproc.TailBuffer // the end of the output but the replicas' request lines
	exited chan struct{}
	err    error // the exit error, once exited is closed

	addrc chan string // replicas only: the address from the "listening" line
}

// startProc starts cmd in a process group of its own (Ctrl-C on a terminal reaches only this
// process), as cred when not nil, killed when this process dies.
func startProc(name string, cmd *exec.Cmd, cred *syscall.Credential, out io.Writer, onLine func(string)) (*proc, error) {
	p := &proc{name: name, cmd: cmd, tail: &localproc.TailBuffer{Max: 32 << 10}, events: &localproc.TailBuffer{Max: 256 << 10}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.tail.Write([]byte(line + "\n"))
			if !strings.Contains(line, `"msg":"request"`) {
				p.events.Write([]byte(line + "\n"))
			}
			fmt.Fprintf(out, "%-9s | %s\n", name, line)
			if onLine != nil {
				onLine(line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	// The parent-death signal is sent when the thread that started the child ends, and Go may
	// end threads: this one stays locked until the child has exited.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			_ = pw.Close()
			return
		}
		started <- nil
		p.err = cmd.Wait()
		_ = pw.Close()
		<-lines
		close(p.exited)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("fleet: start %s: %w", name, err)
	}
	return p, nil
}

// Pid is the process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit error.
func (p *proc) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %s", p.name, timeout)
	}
}

// Exited is closed when the process has exited.
func (p *proc) Exited() <-chan struct{} { return p.exited }

// Log is the end of the process's output, without a replica's request lines (its events:
// listening, draining, stopped, warnings).
func (p *proc) Log() string { return p.events.String() }

// stop sends sig unless the process has exited, waits up to timeout, then kills it.
func (p *proc) stop(sig os.Signal, timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	if err := p.Wait(timeout); err != nil {
		select {
		case <-p.exited:
			return err
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.exited
		return err
	}
	return nil
}

// waitListen waits until the process itself listens on 127.0.0.1:port, or exits (ErrPortTaken
// when the port was in use): localproc.WaitListening.
func (p *proc) waitListen(ctx context.Context, port int) error {
	if err := localproc.WaitListening(ctx, p.cmd.Process.Pid, port, p.exited, p.tail.String, 30*time.Second); err != nil {
		return fmt.Errorf("fleet: %s: %w", p.name, err)
	}
	return nil
}
