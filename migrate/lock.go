package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
)

// lockKey is the session advisory lock every migrator of a database takes ("toodoo" in ASCII).
const lockKey int64 = 0x746f6f646f6f

// ErrLocked is returned (wrapped, with who holds the lock) when another migrator is running on
// the database and Options.Wait is not set.
var ErrLocked = &toodoo.Error{Code: toodoo.ECONFLICT, Message: "Another toodoo migrate is running on this database."}

// lockedError is ErrLocked with the holder's details in its message.
type lockedError struct{ detail *toodoo.Error }

func (e *lockedError) Error() string   { return e.detail.Message }
func (e *lockedError) Unwrap() []error { return []error{e.detail, ErrLocked} }

// acquireLock takes the migrators' advisory lock on a connection of its own and returns the
// function that releases it. The lock is session-level, so url must lead straight to the server:
// through a transaction-mode pooler the session would not be ours. Without wait, a held lock is
// an error at once; with wait, it blocks until the lock is free or ctx ends.
func acquireLock(ctx context.Context, url string, wait bool, rep Reporter) (release func(), err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("migrate: parse the direct database URL: %w", err)
	}
	if _, set := cfg.RuntimeParams["application_name"]; !set {
		cfg.RuntimeParams["application_name"] = "toodoo migrate"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect for the migration lock: %w", err)
	}
	release = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		// Closing the session releases the lock too; unlocking first makes it immediate even
		// if the close is slow.
		_, _ = conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockKey)
		_ = conn.Close(ctx)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if got {
		return release, nil
	}
	if !wait {
		err := lockHolder(ctx, conn)
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	rep.Waiting()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("migrate: wait for the migration lock: %w", err)
	}
	return release, nil
}

// lockHolder returns ErrLocked, naming the session that holds the lock if it can be seen.
func lockHolder(ctx context.Context, conn *pgx.Conn) error {
	var (
		pid   int32
		app   string
		since *time.Time
	)
	err := conn.QueryRow(ctx, `
		SELECT l.pid, coalesce(a.application_name, ''), a.backend_start
		FROM pg_catalog.pg_locks l
		LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
		  AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid AND l.objsubid = 1
		LIMIT 1`, lockKey).Scan(&pid, &app, &since)
	if err != nil {
		return ErrLocked
	}
	msg := fmt.Sprintf("Another toodoo migrate is running on this database (server process %d", pid)
	if app != "" {
		msg += fmt.Sprintf(", %q", app)
	}
	if since != nil {
		msg += fmt.Sprintf(", connected %s ago", time.Since(*since).Round(time.Second))
	}
	msg += ")."
	return &lockedError{detail: &toodoo.Error{Code: toodoo.ECONFLICT, Message: msg}}
}
