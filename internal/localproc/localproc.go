// Package localproc holds what the test harness (internal/dbtest) and the fleet launcher
// (deploy/fleet) both need to run helper servers such as PgBouncer and HAProxy on this machine:
// a free loopback port, an unprivileged user for a server that refuses root, and a bounded
// buffer for a process's last output (shown when it fails to start).
package localproc

import (
	"bytes"
	"errors"
	"net"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
