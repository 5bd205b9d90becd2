package localproc_test

import (
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/toodoo/toodoo/internal/localproc"
)

// TestListensOn tells the process that listens on a port from the others: a dial could not.
func TestListensOn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })

	for _, c := range []struct {
		name string
		pid  int
		want bool
	}{
		{"the listener's process", os.Getpid(), true},
		{"another process, while the port is taken", other.Process.Pid, false},
	} {
		got, err := localproc.ListensOn(c.pid, port)
		if err != nil || got != c.want {
			t.Errorf("%s: ListensOn = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	l.Close()
	if got, err := localproc.ListensOn(os.Getpid(), port); err != nil || got {
		t.Errorf("after Close: ListensOn = %v, %v; want false", got, err)
	}
	// A connected socket on the port is not a listener.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	c, err := net.Dial("tcp", l2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).Port
	if got, err := localproc.ListensOn(os.Getpid(), local); err != nil || got {
		t.Errorf("a client's port: ListensOn = %v, %v; want false", got, err)
	}
}

func TestPortTaken(t *testing.T) {
	for out, want := range map[string]bool{
		"WARNING cannot listen on 127.0.0.1:46999: bind(): Address already in use\nFATAL nowhere to listen on":           true,
		"[ALERT] Binding [haproxy.cfg:8] for frontend web: cannot bind socket (Address already in use) [127.0.0.1:8080]": true,
		"FATAL cannot load config file": false,
	} {
		if got := localproc.PortTaken(out); got != want {
			t.Errorf("PortTaken(%q) = %v, want %v", out, got, want)
		}
	}
}

// TestListensOnEnded: a process that has ended (and been waited for) listens nowhere; no error,
// the caller's waiter says why it ended.
func TestListensOnEnded(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got, err := localproc.ListensOn(cmd.Process.Pid, 5432); err != nil || got {
		t.Errorf("ListensOn(ended process) = %v, %v; want false, nil", got, err)
	}
}
