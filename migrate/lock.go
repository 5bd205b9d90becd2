package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
)

// lockKey is the advisory lock every migrator of a database takes ("toodoo" in ASCII).
const lockKey int64 = 0x746f6f646f6f

// ErrLocked is returned (wrapped, with who holds the lock) when another migrator is running on
// the database and Options.Wait is not set.
var ErrLocked = &toodoo.Error{Code: toodoo.ECONFLICT, Message: "Another toodoo migrate is running on this database."}

// lockedError is ErrLocked with the holder's details in its message.
type lockedError struct{ detail *toodoo.Error }

func (e *lockedError) Error() string   { return e.detail.Message }
func (e *lockedError) Unwrap() []error { return []error{e.detail, ErrLocked} }

// ErrLockLost is wrapped by Run's error when the connection that holds the migrators' advisory
// lock fails during the run (the server ended it, the network or a pooler dropped it): another
// migrator could take the lock then, so the run stops instead of going on without it.
var ErrLockLost = errors.New("the migrators' advisory lock was lost (its connection failed)")

// keepaliveTimeout bounds one keepalive statement: a connection silent for that long (a network
// gone quiet) counts as lost. It is not the interval, so that a short interval on a busy server
// does not count slow answers as lost connections.
const keepaliveTimeout = 10 * time.Second

// connectLock opens the connection that holds the migrators' lock (see below). A run's first
// reads travel on it too, with the lock (see firstRoundTrip), so a run that finds nothing due
// opens no other connection. Its statements are schema-qualified and it starts with an empty
// search_path, as the pool's connections do (openPool). It runs each statement in a single round
// trip (QueryExecModeExec: no statement is prepared, which also suits a transaction-mode pooler).
func connectLock(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("migrate: parse the database URL for the lock: %w", err)
	}
	for k, v := range map[string]string{"application_name": "toodoo migrate", "search_path": ""} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect for the migration lock: %w", err)
	}
	return conn, nil
}

// The migrators' advisory lock is transaction-level, taken in a transaction that stays open for
// the whole run (pg_advisory_xact_lock) on the lock's connection (connectLock): a
// transaction-mode pooler such as PgBouncer keeps one server connection for a transaction, so
// the lock holds even through one, where a session-level lock would stay behind on a server
// connection other clients then use. The open transaction has no snapshot between statements
// (READ COMMITTED), so it holds back no vacuum. If the process dies, the connection ends and the
// lock with it. firstRoundTrip begins the transaction and tries the lock; waitLock waits for it;
// holdLock keeps it for the run.

// waitLock blocks until the lock, tried in tx without success, is free, or ctx ends.
func waitLock(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("migrate: wait for the migration lock: %w", err)
	}
	return nil
}

// holdLock keeps the lock that tx holds for the run: it returns a context derived from ctx for the
// run, and the function that releases the lock (rolls tx back and closes its connection).
//
// Every keepalive the transaction runs a statement, so that an idle_in_transaction_session_timeout
// (in PostgreSQL or a pooler) does not end it mid-run. If that statement fails, the lock is gone
// with the connection: the returned context is cancelled with a cause that wraps ErrLockLost, and
// every transaction of the run still open is cancelled with it. Nothing else may use the
// connection until the release.
func holdLock(ctx context.Context, conn *pgx.Conn, tx pgx.Tx, keepalive time.Duration) (context.Context, func()) {
	runCtx, cancel := context.WithCancelCause(ctx)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(keepalive)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), keepaliveTimeout)
				_, err := tx.Exec(kctx, "SELECT 1")
				kcancel()
				if err != nil {
					cancel(fmt.Errorf("%w: %w", ErrLockLost, err))
					return
				}
			}
		}
	}()
	return runCtx, func() {
		close(stop)
		<-stopped
		cancel(nil)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(ctx) // ends the transaction, and the lock
		_ = conn.Close(ctx)
	}
}

// lockHolder returns ErrLocked, naming the session that holds the lock if it can be seen.
func lockHolder(ctx context.Context, conn pgx.Tx) error {
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
