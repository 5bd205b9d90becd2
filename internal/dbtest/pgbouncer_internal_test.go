package dbtest

import (
	"errors"
	"net"
	"net/url"
	"testing"

	"github.com/toodoo/toodoo/internal/localproc"
)

// TestLaunchBouncerPortTaken: when another process holds the port, launching PgBouncer fails with
// ErrPortTaken (and startBouncer chooses another port) instead of taking the other listener
// for ours. The old readiness check, a dial, accepted it: a CI run's tests then talked to
// another test binary's PgBouncer and failed with "connection refused" when that one ended.
func TestLaunchBouncerPortTaken(t *testing.T) {
	bin, err := localproc.LookBin("pgbouncer")
	if err != nil {
		t.Skip(err)
	}
	base, _ := url.Parse("postgres://postgres:secret@127.0.0.1:5432/postgres") // not dialled: no client connects
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	b, err := launchBouncer(t.Context(), bin, base, 1, taken.Addr().(*net.TCPAddr).Port)
	if b != nil {
		_ = b.close()
	}
	if !errors.Is(err, localproc.ErrPortTaken) {
		t.Fatalf("launchBouncer on a taken port: %v, want ErrPortTaken", err)
	}

	port, err := localproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b, err = launchBouncer(t.Context(), bin, base, 1, port)
	if err != nil {
		t.Fatalf("launchBouncer on a free port: %v", err)
	}
	if err := b.close(); err != nil {
		t.Error(err)
	}
}
