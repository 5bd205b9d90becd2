// Package localproc holds what the test harness (internal/dbtest) and the fleet launcher
// (deploy/fleet) both need to run helper servers such as PgBouncer and HAProxy on this machine:
// a free loopback port, a way to know that the server started is the one listening on it, an
// unprivileged user for a server that refuses root, and a bounded buffer for a process's last
// output (shown when it fails to start).
package localproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrPortTaken says that a server could not bind the port FreePort gave: another process took
// it in between. The caller starts the server again on a new port.
var ErrPortTaken = errors.New("the port was taken before the server could bind it")

// RetryPortTaken calls start again, up to 5 times in all, while it fails with ErrPortTaken:
// start chooses a free port each time.
func RetryPortTaken(start func() error) error {
	for attempt := 1; ; attempt++ {
		err := start()
		if errors.Is(err, ErrPortTaken) && attempt < 5 {
			continue
		}
		return err
	}
}

// LookBin finds the binary of a Debian package in PATH or else in /usr/sbin, which a user's PATH
// may lack (pgbouncer, haproxy).
func LookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := "/usr/sbin/" + name
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed (Debian: apt-get install %s)", name, name)
}

// PortTaken reports whether a server's output says that its port was in use (EADDRINUSE, as
// PgBouncer and HAProxy print it).
func PortTaken(output string) bool { return strings.Contains(output, "Address already in use") }

// ListensOn reports whether process pid itself holds a listening TCP socket on 127.0.0.1:port.
// A successful dial does not tell: the port from FreePort may have gone to another process
// (another test binary's PgBouncer, say) while ours failed to bind it and is exiting; the
// dial would then succeed, and the tests would talk to a server that goes away with its owner.
// Linux only: it matches the listening sockets of /proc/net/tcp with pid's descriptors.
func ListensOn(pid, port int) (bool, error) {
	inodes, err := listeningInodes(port)
	if err != nil || len(inodes) == 0 {
		return false, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // the process has ended (a bind failure, say): its waiter tells why
	}
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
			return true, nil
		}
	}
	return false, nil
}

// WaitListening waits until process pid listens on 127.0.0.1:port (ListensOn), and fails when
// the process exits first (exited closes; with ErrPortTaken if its output says the port was in
// use, so that RetryPortTaken tries another), when ctx ends, or after timeout. output gives the
// process's last output, for the errors.
func WaitListening(ctx context.Context, pid, port int, exited <-chan struct{}, output func() string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok, err := ListensOn(pid, port); err != nil {
			return err
		} else if ok {
			return nil
		}
		select {
		case <-exited:
			if PortTaken(output()) {
				return fmt.Errorf("port %d: %w", port, ErrPortTaken)
			}
			return fmt.Errorf("exited:\n%s", output())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("does not listen on port %d after %s:\n%s", port, timeout, output())
		}
	}
}

// listeningInodes returns the inodes of the sockets listening on 127.0.0.1:port.
func listeningInodes(port int) (map[string]bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	local := fmt.Sprintf("0100007F:%04X", port) // 127.0.0.1, as /proc writes it on little-endian
	const listen = "0A"
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) >= 10 && fields[1] == local && fields[3] == listen {
			inodes[fields[9]] = true
		}
	}
	return inodes, sc.Err()
}

// Unprivileged returns the credentials of the postgres user (Debian's pgbouncer package depends
// on postgresql-common, which creates it), or else of nobody: PgBouncer refuses to run as root.
func Unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgbouncer cannot run as root, and there is no postgres or nobody user to run it as")
}

// TailBuffer keeps the last Max bytes written to it; safe for concurrent writes.
type TailBuffer struct {
	Max int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.Max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

// String returns what is kept, without surrounding white space.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}
