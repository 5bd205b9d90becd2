package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
)

// holdTable opens a transaction that holds ACCESS SHARE on schema's todos, as a long request or
// report would (BEGIN; SELECT ... FROM todos; and then nothing), and returns the function that
// ends it. ADD COLUMN needs ACCESS EXCLUSIVE, so the migrator's DDL waits for it.
func holdTable(t testing.TB, url, schema string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{schema, "todos"}.Sanitize()+" IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		if err := tx.Rollback(ctx); err != nil {
			t.Errorf("release the lock on %s: %v", schema, err)
		}
		_ = conn.Close(ctx)
	}
	t.Cleanup(release)
	return release
}

// A tenant whose table an open transaction holds does not stall the run: its DDL gives up after
// the lock timeout, the other tenants are migrated, it is retried after them LockAttempts times
// in all, then reported failed ("locked by another transaction"), in the summary and the ledger.
// Once the transaction ends, the next run migrates it.
func TestLockTimeoutGivesUp(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	names := tenantNames("held", 5)
	createTenants(t, url, def, names...)
	run(t, url, def, migrate.Options{}) // records "public"
	held := names[2]
	release := holdTable(t, url, held)

	next := withPriority(t)
	opts := migrate.Options{LockTimeout: 100 * time.Millisecond, LockAttempts: 3, LockRetryDelay: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // generous: Run must return, not wait for the holder
	defer cancel()
	sum, err := migrate.Run(ctx, url, next, opts, nil)
	if !errors.Is(err, migrate.ErrIncomplete) {
		t.Fatalf("Run: %v, want ErrIncomplete (summary %+v)", err, sum)
	}
	if ctx.Err() != nil {
		t.Fatal("Run waited for the holder until the test's deadline")
	}
	if got, want := countsOf(sum), (counts{Schemas: 6, Current: 1, Applied: 4, Failed: 1, Inspections: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	if sum.LockRetries != 2 || sum.LockGaveUp != 1 {
		t.Errorf("lock retries %d, gave up %d; want 2 and 1", sum.LockRetries, sum.LockGaveUp)
	}
	if len(sum.Failures) != 1 || sum.Failures[0].Schema != held ||
		!strings.Contains(sum.Failures[0].Err.Error(), "locked by another transaction") || !strings.Contains(sum.Failures[0].Err.Error(), "3 attempts") {
		t.Fatalf("failures %+v, want %s locked by another transaction after 3 attempts", sum.Failures, held)
	}
	for _, name := range names {
		want := 1
		if name == held {
			want = 0
		}
		if got := queryInt(t, url, "SELECT count(*)::int FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'todos' AND column_name = 'priority'", name); got != want {
			t.Errorf("%s has %d priority columns, want %d", name, got, want)
		}
	}
	if n := queryInt(t, url, "SELECT count(*)::int FROM public.schema_ledger WHERE schema_name = $1 AND last_error LIKE '%locked by another transaction%'", held); n != 1 {
		t.Errorf("the ledger does not say %s was locked", held)
	}

	release()
	sum = run(t, url, next, opts)
	if got, want := countsOf(sum), (counts{Schemas: 6, Current: 5, Applied: 1, Inspections: 1}); got != want {
		t.Errorf("after release: %+v, want %+v", got, want)
	}
	if sum.LockRetries != 0 || sum.LockGaveUp != 0 {
		t.Errorf("after release: lock retries %d, gave up %d; want 0 and 0", sum.LockRetries, sum.LockGaveUp)
	}
}

// A holder that ends while the run retries: the tenant is migrated by a retry, counted.
func TestLockTimeoutRetrySucceeds(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	names := tenantNames("wait", 3)
	createTenants(t, url, def, names...)
	run(t, url, def, migrate.Options{})
	held := names[0] // the first canary of the group: a retry must also fix the group's fingerprint
	release := holdTable(t, url, held)

	// Release the holder as soon as the migrator's DDL has waited for it once and given up: the
	// lock request is seen not granted, then gone. The first retry comes a second later.
	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	watched := make(chan error, 1)
	// The watcher connects directly: through PgBouncer it would wait for a server connection
	// while the holder, the migrators' lock and the waiting DDL hold them.
	go func() { watched <- releaseAfterTimeout(watchCtx, dbtest.DirectURL(t, url), held, release) }()

	opts := migrate.Options{LockTimeout: 200 * time.Millisecond, LockAttempts: 5, LockRetryDelay: time.Second}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	sum, err := migrate.Run(ctx, url, withPriority(t), opts, nil)
	stopWatch()
	if werr := <-watched; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("Run: %v (summary %+v, failures %v)", err, sum, sum.Failures)
	}
	if got, want := countsOf(sum), (counts{Schemas: 4, Current: 1, Applied: 3, Inspections: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	if sum.LockRetries < 1 || sum.LockGaveUp != 0 {
		t.Errorf("lock retries %d, gave up %d; want at least 1 and 0", sum.LockRetries, sum.LockGaveUp)
	}
	if stmts := atlasChanges(t, url, withPriority(t), held); len(stmts) > 0 {
		t.Errorf("after the retry, Atlas still wants to change %s:\n%s", held, strings.Join(stmts, "\n"))
	}
	if n := queryInt(t, url, "SELECT count(*)::int FROM public.schema_ledger WHERE schema_name = $1 AND fingerprint IS NOT NULL AND last_error IS NULL", held); n != 1 {
		t.Errorf("the ledger row of %s has no fingerprint or an error", held)
	}
}

// releaseAfterTimeout polls pg_locks until a lock request on schema.todos has been seen waiting
// and then gone (lock_timeout fired), then calls release.
func releaseAfterTimeout(ctx context.Context, url, schema string, release func()) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	const q = `SELECT count(*)::int FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'todos' AND NOT l.granted`
	seen := false
	for {
		var waiting int
		if err := conn.QueryRow(ctx, q, schema).Scan(&waiting); err != nil {
			return err
		}
		switch {
		case waiting > 0:
			seen = true
		case seen:
			release()
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the migrator's DDL was never seen waiting for the lock and giving up")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// "public" held by an open transaction: its DDL is retried at once (it comes before the
// tenants), and once the attempts are spent it is reported locked; the tenants are still
// migrated (none is due here).
func TestLockTimeoutShared(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	run(t, url, schemadef.MustDefault(), migrate.Options{})
	const anchor = `  column "email_verified" {`
	next, err := schemadef.Load(bytes.Replace(toodoo.SchemaHCL, []byte(anchor), []byte("  column \"nickname\" {\n    type = text\n    null = true\n  }\n"+anchor), 1))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(t.Context(), "LOCK TABLE public.users IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}

	opts := migrate.Options{LockTimeout: 100 * time.Millisecond, LockAttempts: 2, LockRetryDelay: 50 * time.Millisecond}
	sum, err := migrate.Run(t.Context(), url, next, opts, nil)
	if !errors.Is(err, migrate.ErrIncomplete) || sum.Failed != 1 || sum.LockRetries != 1 || sum.LockGaveUp != 1 ||
		len(sum.Failures) != 1 || !strings.Contains(sum.Failures[0].Err.Error(), "locked by another transaction") {
		t.Fatalf("Run: %v, summary %+v; want public failed as locked after one retry", err, sum)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sum := run(t, url, next, opts); sum.Applied != 1 || sum.LockRetries != 0 {
		t.Errorf("after release: %+v, want public applied without lock timeouts", sum)
	}
}
