package dbtest

import (
	"context"
	"errors"
	"fmt"
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
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/localproc"
)

// defaultPoolSize is PgBouncer's server connections per database (and user). It is small so
// that the tenants of a test share server connections; TEST_PGBOUNCER_POOL_SIZE overrides it.
const defaultPoolSize = 3

// bouncer is the PgBouncer of this test binary, in transaction pooling mode in front of the
// test server. Every database of the server is reachable through it (a "*" entry).
type bouncer struct {
	cmd      *exec.Cmd
	dir      string
	port     int
	user     string
	password string
	poolSize int
	log      *localproc.TailBuffer
	exited   chan struct{}

	adminMu sync.Mutex
	admin   *pgx.Conn // the admin console, opened on first use
}

// pgbouncerConfig is PgBouncer's configuration. Notes:
//   - pool_mode transaction: a server connection belongs to a client for one transaction only,
//     as in production; session state (SET, prepared statements, advisory locks) does not carry
//     over, which is what the pooled test run is for.
//   - connect_query empties search_path on every new server connection, so that tenant queries
//     outside the tenant scope fail as they do without the pooler. PgBouncer 1.18 cannot
//     forward the search_path start-up parameter, so it is ignored, like extra_float_digits.
//   - PgBouncer 1.18 does not keep named prepared statements in transaction mode: URLs ask pgx
//     for default_query_exec_mode=exec (unnamed statements).
const pgbouncerConfig = `[databases]
* = host={{host}} port={{serverPort}} connect_query='SELECT pg_catalog.set_config(''search_path'', '''', false)'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {{port}}
unix_socket_dir =
auth_type = {{authType}}
auth_file = {{dir}}/userlist.txt
admin_users = {{user}}
pool_mode = transaction
default_pool_size = {{poolSize}}
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,search_path
server_login_retry = 1
query_wait_timeout = 60
autodb_idle_timeout = 60
log_connections = 0
log_disconnections = 0
`

// startBouncer starts PgBouncer in front of the server at base (a maintenance URL).
func startBouncer(ctx context.Context, base *url.URL) (*bouncer, error) {
	bin, err := localproc.LookBin("pgbouncer")
	if err != nil {
		return nil, err
	}
	poolSize := defaultPoolSize
	if v := os.Getenv(envPoolSize); v != "" {
		if poolSize, err = strconv.Atoi(v); err != nil || poolSize < 1 {
			return nil, fmt.Errorf("%s=%q: want a positive number", envPoolSize, v)
		}
	}
	var b *bouncer
	err = localproc.RetryPortTaken(func() error {
		port, err := localproc.FreePort()
		if err != nil {
			return err
		}
		b, err = launchBouncer(ctx, bin, base, poolSize, port)
		return err
	})
	return b, err
}

// launchBouncer starts PgBouncer on port and waits until it listens there; ErrPortTaken when
// another process holds the port.
func launchBouncer(ctx context.Context, bin string, base *url.URL, poolSize, port int) (b *bouncer, err error) {
	b = &bouncer{
		port:     port,
		user:     base.User.Username(),
		poolSize: poolSize,
		log:      &localproc.TailBuffer{Max: 64 << 10},
		exited:   make(chan struct{}),
	}
	b.password, _ = base.User.Password()
	serverPort := base.Port()
	if serverPort == "" {
		serverPort = "5432"
	}
	authType := "scram-sha-256"
	if b.password == "" {
		authType = "trust"
	}

	removeStaleDirs()
	if b.dir, err = os.MkdirTemp("", fmt.Sprintf("dbtest-pgbouncer-%d-", os.Getpid())); err != nil {
		return nil, err
	}
	cfg := strings.NewReplacer(
		"{{host}}", base.Hostname(),
		"{{serverPort}}", serverPort,
		"{{port}}", strconv.Itoa(port),
		"{{authType}}", authType,
		"{{dir}}", b.dir,
		"{{user}}", b.user,
		"{{poolSize}}", strconv.Itoa(poolSize),
	).Replace(pgbouncerConfig)
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	files := map[string]string{
		"pgbouncer.ini": cfg,
		"userlist.txt":  quote(b.user) + " " + quote(b.password) + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(content), 0o600); err != nil {
			return nil, b.cleanDir(err)
		}
	}

	b.cmd = exec.Command(bin, filepath.Join(b.dir, "pgbouncer.ini"))
	b.cmd.Stdout = b.log
	b.cmd.Stderr = b.log
	// PgBouncer dies with the test binary, however that ends.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		// PgBouncer refuses to run as root. Go sets the parent-death signal after switching
		// user (pgbouncer -u would switch later and lose it).
		cred, err := localproc.Unprivileged()
		if err != nil {
			return nil, b.cleanDir(err)
		}
		b.cmd.SysProcAttr.Credential = cred
		for _, p := range []string{b.dir, filepath.Join(b.dir, "pgbouncer.ini"), filepath.Join(b.dir, "userlist.txt")} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, b.cleanDir(err)
			}
		}
	}
	// The parent-death signal is sent when the thread that started the child exits, and Go
	// may end a thread; this one stays until PgBouncer has exited.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := b.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = b.cmd.Wait()
		close(b.exited)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return nil, b.cleanDir(fmt.Errorf("start pgbouncer: %w", err))
	}

	err = localproc.WaitListening(ctx, b.cmd.Process.Pid, port, b.exited, b.log.String, 15*time.Second)
	if err != nil {
		select {
		case <-b.exited: // nothing to stop
			return nil, b.cleanDir(fmt.Errorf("pgbouncer: %w", err))
		default:
			return nil, errors.Join(fmt.Errorf("pgbouncer: %w", err), b.close())
		}
	}
	return b, nil
}

func (b *bouncer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// url returns the URL of database name through PgBouncer.
func (b *bouncer) url(name string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(b.user, b.password),
		Host:     b.addr(),
		Path:     "/" + name,
		RawQuery: "sslmode=disable&default_query_exec_mode=exec",
	}
	return u.String()
}

// forget makes PgBouncer close its connections to database name before the database is
// dropped (best effort: DROP DATABASE ... WITH (FORCE) ends them anyway).
func (b *bouncer) forget(ctx context.Context, name string) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.admin == nil {
		u := b.url("pgbouncer")
		u = strings.Replace(u, "default_query_exec_mode=exec", "default_query_exec_mode=simple_protocol", 1)
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return
		}
		b.admin = conn
	}
	if _, err := b.admin.Exec(ctx, "KILL "+name); err != nil && b.admin.IsClosed() {
		b.admin = nil
	}
}

// endedEarly returns why PgBouncer is no longer running while the tests still use it (its
// log), or nil: the tests that failed to connect get the reason.
func (b *bouncer) endedEarly() error {
	select {
	case <-b.exited:
		return fmt.Errorf("pgbouncer on port %d ended before the tests did: %s", b.port, b.log.String())
	default:
		return nil
	}
}

// close stops PgBouncer and removes its files.
func (b *bouncer) close() error {
	b.adminMu.Lock()
	if b.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.admin.Close(ctx)
		cancel()
		b.admin = nil
	}
	b.adminMu.Unlock()
	if b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(syscall.SIGTERM) // immediate shutdown
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	}
	return b.cleanDir(nil)
}

func (b *bouncer) cleanDir(err error) error {
	if rmErr := os.RemoveAll(b.dir); rmErr != nil {
		return errors.Join(err, rmErr)
	}
	return err
}

// removeStaleDirs removes the configuration folders of PgBouncers whose test binary died
// before it could remove them (the PgBouncer itself died with it).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "dbtest-pgbouncer-*-*"))
	for _, dir := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(dir), "dbtest-pgbouncer-%d-", &pid); err == nil && !processAlive(pid) {
			_ = os.RemoveAll(dir)
		}
	}
}
