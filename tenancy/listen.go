package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listener receives the notifications of one channel over a connection of its own.
//
// LISTEN needs a session: a pooled connection goes back to the pool (and, behind PgBouncer in
// transaction mode, to other clients) after every transaction, so the listener keeps one plain
// connection, opened with a direct URL that does not pass through a transaction-mode pooler.
//
// A connection that stops answering without closing (a half-open TCP connection, a stopped
// backend) delivers nothing and reports no error, so the listener checks it: after Heartbeat
// without a notification it sends an empty query, and if the answer does not come within
// HeartbeatTimeout it drops the connection (LostFunc) and connects again. TCP keepalives are on
// as well, so that the kernel gives up on a dead peer even while nothing is being sent. A
// stalled connection is thus noticed within Heartbeat + HeartbeatTimeout (3 s by default).
type Listener struct {
	URL     string // the direct database URL
	Channel string // e.g. HostsChannel

	// ReadyFunc is called after every successful LISTEN (the first and each one after a
	// reconnection). Notifications sent while no connection listened are lost, so a cache must
	// reload everything here. An error from it drops the connection and retries.
	ReadyFunc func(ctx context.Context) error
	// NotifyFunc is called with each notification's payload, one at a time.
	NotifyFunc func(ctx context.Context, payload string)
	// LostFunc, if set, is called when a connection that was listening fails: until ReadyFunc
	// runs again, notifications are missed.
	LostFunc func(err error)

	// Alongside, if set, runs for as long as Run, whether or not a connection listens, and Run
	// returns only after it has: a check that does not depend on the connection (the host map's
	// reconcile).
	Alongside func(ctx context.Context)

	// MaxBackoff bounds the wait between reconnection attempts (default 5s).
	MaxBackoff time.Duration
	// Heartbeat is how long the connection may stay silent before it is checked (default 1s);
	// HeartbeatTimeout how long the check may take (default 2s), also the bound on connecting
	// and on LISTEN.
	Heartbeat, HeartbeatTimeout time.Duration
}

// Run listens until ctx is done, reconnecting with exponential backoff when the connection or
// the database fails. It returns ctx's error.
func (l *Listener) Run(ctx context.Context) error {
	maxBackoff := l.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Second
	}
	if l.Alongside != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); l.Alongside(ctx) }()
		defer func() { cancel(); <-done }()
	}
	backoff := 50 * time.Millisecond
	for {
		listened, err := l.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			backoff = 50 * time.Millisecond
			if l.LostFunc != nil {
				l.LostFunc(err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connect opens the listening connection with TCP keepalives and bounded by timeout.
func (l *Listener) connect(ctx context.Context, timeout time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(l.URL)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > timeout {
		cfg.ConnectTimeout = timeout
	}
	dialer := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3,
	}}
	cfg.DialFunc = dialer.DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// session runs one connection: LISTEN, ReadyFunc, then notifications and heartbeats until an
// error. listened reports whether LISTEN succeeded.
func (l *Listener) session(ctx context.Context) (listened bool, err error) {
	heartbeat, timeout := l.Heartbeat, l.HeartbeatTimeout
	if heartbeat <= 0 {
		heartbeat = time.Second
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	conn, err := l.connect(ctx, timeout)
	if err != nil {
		return false, fmt.Errorf("tenancy: listen: connect: %w", err)
	}
	defer func() {
		// A stalled peer must not hold up the reconnection: Close is bounded too.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	listenCtx, cancel := context.WithTimeout(ctx, timeout)
	_, err = conn.Exec(listenCtx, "LISTEN "+pgx.Identifier{l.Channel}.Sanitize())
	cancel()
	if err != nil {
		return false, fmt.Errorf("tenancy: listen %s: %w", l.Channel, err)
	}
	if l.ReadyFunc != nil {
		if err := l.ReadyFunc(ctx); err != nil {
			return false, fmt.Errorf("tenancy: listen %s: ready: %w", l.Channel, err)
		}
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, heartbeat)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			if l.NotifyFunc != nil {
				l.NotifyFunc(ctx, n.Payload)
			}
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return true, fmt.Errorf("tenancy: listen %s: %w", l.Channel, err)
		}
		// Silent for a heartbeat: make sure the connection still answers. An empty query is a
		// round trip that touches nothing; notifications that arrive meanwhile are kept by pgx
		// and returned by the next WaitForNotification.
		pingCtx, cancel := context.WithTimeout(ctx, timeout)
		_, err = conn.Exec(pingCtx, ";")
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("tenancy: listen %s: heartbeat: no answer within %s: %w", l.Channel, timeout, err)
		}
	}
}
