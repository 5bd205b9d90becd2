package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listener receives the notifications of one channel over a connection of its own.
//
// LISTEN needs a session: a pooled connection goes back to the pool (and, behind PgBouncer in
// transaction mode, to other clients) after every transaction, so the listener keeps one plain
// connection, opened with a direct URL that does not pass through a transaction-mode pooler.
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

	// MaxBackoff bounds the wait between reconnection attempts (default 5s).
	MaxBackoff time.Duration
}

// Run listens until ctx is done, reconnecting with exponential backoff when the connection or
// the database fails. It returns ctx's error.
func (l *Listener) Run(ctx context.Context) error {
	maxBackoff := l.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 5 * time.Second
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

// session runs one connection: LISTEN, ReadyFunc, then notifications until an error. listened
// reports whether LISTEN succeeded.
func (l *Listener) session(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.Connect(ctx, l.URL)
	if err != nil {
		return false, fmt.Errorf("tenancy: listen: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.Channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("tenancy: listen %s: %w", l.Channel, err)
	}
	if l.ReadyFunc != nil {
		if err := l.ReadyFunc(ctx); err != nil {
			return false, fmt.Errorf("tenancy: listen %s: ready: %w", l.Channel, err)
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return true, err
			}
			return true, fmt.Errorf("tenancy: listen %s: %w", l.Channel, err)
		}
		if l.NotifyFunc != nil {
			l.NotifyFunc(ctx, n.Payload)
		}
	}
}
