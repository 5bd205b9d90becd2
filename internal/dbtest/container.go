package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Labels of the harness's containers. deploy/postgres/reap-test-containers.sh (run by
// `go tool task test`) removes labelled containers whose process is gone, in case both the test
// binary and its reaper were killed.
const (
	labelDBTest  = "org.toodoo.dbtest"         // "1" on every container of the harness
	labelSession = "org.toodoo.dbtest.session" // random, one per test binary
	labelPID     = "org.toodoo.dbtest.pid"     // the test binary's process id
	labelHost    = "org.toodoo.dbtest.host"    // host name of the machine that runs it
)

// envReaper, when set in a test binary's environment, makes it a reaper (see init).
const envReaper = "TOODOO_DBTEST_REAPER_SESSION"

// serverSettings make the throwaway server fast: it need not survive a crash.
var serverSettings = []string{
	// The module already passes "-c fsync=off".
	"-c", "synchronous_commit=off",
	"-c", "full_page_writes=off",
	"-c", "wal_level=minimal",
	"-c", "max_wal_senders=0",
	"-c", "checkpoint_timeout=1d",
	"-c", "max_connections=300",
}

// startContainer starts the PostgreSQL container of this test binary. It returns errNoServer
// when Docker cannot be reached.
func startContainer(ctx context.Context) (admin string, stop func(context.Context) error, err error) {
	// Ryuk is an image we cannot pull; the reaper below does its job. Read by testcontainers
	// when it first loads its configuration, which has not happened yet in this process.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if !testing.Verbose() {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	image := os.Getenv(envImage)
	if image == "" {
		image = DefaultImage
	}

	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("%w (%v)", errNoServer, err)
	}
	defer docker.Close()
	infoCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	info, err := docker.Info(infoCtx, client.InfoOptions{})
	cancel()
	if err != nil {
		return "", nil, fmt.Errorf("%w (%v)", errNoServer, err)
	}
	// In a container (/.dockerenv) with a local socket, testcontainers looks for published ports
	// on the bridge's gateway, as it should when the socket is the host's. When the daemon runs
	// in this very machine (same host name), they are published here; the gateway refuses them.
	if host, _ := os.Hostname(); os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" &&
		strings.HasPrefix(docker.DaemonHost(), "unix://") && info.Info.Name == host {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
	}
	// testcontainers would try to pull a missing image, retrying for minutes: there is no
	// registry on our machines, so say what to do instead.
	if _, err := docker.ImageInspect(ctx, image); err != nil {
		return "", nil, fmt.Errorf("image %s is not in the local Docker engine (%v); build it with `go tool task pg-image`, or set %s or %s", image, err, envImage, envURL)
	}

	session := randomHex(8)
	reaper, err := startReaper(session)
	if err != nil {
		return "", nil, fmt.Errorf("start container reaper: %w", err)
	}
	hostname, _ := os.Hostname()
	ctr, err := tcpostgres.Run(ctx, image,
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.WithDatabase("postgres"),
		testcontainers.WithCmdArgs(serverSettings...),
		testcontainers.WithLabels(map[string]string{
			labelDBTest:  "1",
			labelSession: session,
			labelPID:     strconv.Itoa(os.Getpid()),
			labelHost:    hostname,
		}),
		// The module (v0.45.0) waits for nothing by default. This is its BasicWaitStrategies
		// with a deadline that suits a busy 2-core machine: the second "ready" (the entrypoint
		// starts a temporary server to initialise the cluster), then the published port.
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForLog("database system is ready to accept connections").WithOccurrence(2),
			wait.ForListeningPort("5432/tcp"),
		),
	)
	stop = func(ctx context.Context) error {
		var errs []error
		if ctr != nil {
			// A throwaway server: no need for a clean shutdown.
			if err := ctr.Terminate(ctx, testcontainers.StopTimeout(0)); err != nil {
				errs = append(errs, fmt.Errorf("terminate container: %w", err))
			}
		}
		errs = append(errs, reaper.done())
		return errors.Join(errs...)
	}
	if err != nil {
		err = fmt.Errorf("start PostgreSQL container from %s: %w%s", image, err, containerLogs(ctx, ctr))
		return "", nil, errors.Join(err, stop(context.WithoutCancel(ctx)))
	}
	admin, err = ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", nil, errors.Join(err, stop(context.WithoutCancel(ctx)))
	}
	return admin, stop, nil
}

// containerLogs returns the tail of the container's log, for an error message.
func containerLogs(ctx context.Context, ctr *tcpostgres.PostgresContainer) string {
	if ctr == nil {
		return ""
	}
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\ncontainer log:\n" + string(b)
}

// reaper is a child process that removes this test binary's containers once the binary is
// gone, however it ended: it waits for EOF on a pipe that only this process holds open, which
// the kernel closes when the process exits, panics, times out or is killed. It does what Ryuk
// does, without an image.
type reaper struct {
	cmd  *exec.Cmd
	pipe *os.File
}

func startReaper(session string) (*reaper, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envReaper+"="+session, "TESTCONTAINERS_RYUK_DISABLED=true")
	cmd.Stdin = r
	// No stdout or stderr: go test waits for every holder of the test's output to exit.
	// Its own process group: a Ctrl-C to the test must not stop the reaper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	r.Close()
	return &reaper{cmd: cmd, pipe: w}, nil
}

// done lets the reaper go (it finds nothing left to remove) and waits for it.
func (r *reaper) done() error {
	r.pipe.Close()
	errc := make(chan error, 1)
	go func() { errc <- r.cmd.Wait() }()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("container reaper did not exit")
	}
}

// init turns a test binary started by startReaper into the reaper: it runs before TestMain, so
// it works in any package that imports dbtest.
func init() {
	session := os.Getenv(envReaper)
	if session == "" {
		return
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test binary is gone
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := removeContainers(ctx, labelSession+"="+session); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// removeContainers force-removes the containers (and their anonymous volumes) that carry label.
func removeContainers(ctx context.Context, label string) error {
	docker, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer docker.Close()
	list, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range list.Items {
		if _, err := docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
