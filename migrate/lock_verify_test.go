package migrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
)

// holdLock takes the migrators' lock on a session of the test's, as a running migrator would,
// and returns the function that lets it go.
func holdLock(t *testing.T, url string) (release func()) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(0x746f6f646f6f)).Scan(&got); err != nil || !got {
		t.Fatalf("take the lock: %v, %t", err, got)
	}
	return func() { conn.Close(ctx) }
}

// A second migrator refuses at once while the lock is held; with Wait it waits, until the
// context ends or the lock is released.
func TestAdvisoryLock(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	direct := dbtest.DirectURL(t, url)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "one")
	release := holdLock(t, direct)

	start := time.Now()
	_, err := migrate.Run(t.Context(), url, def, migrate.Options{DirectURL: direct}, nil)
	if !errors.Is(err, migrate.ErrLocked) || toodoo.ErrorCode(err) != toodoo.ECONFLICT {
		t.Fatalf("err = %v, want ErrLocked (ECONFLICT)", err)
	}
	if msg := toodoo.ErrorMessage(err); !strings.HasPrefix(msg, "Another toodoo migrate is running on this database (server process ") {
		t.Errorf("message %q does not name the holder", msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing took %v: it must not wait", d)
	}
	// The lock works through the pooled URL too (a transaction-mode pooler with TEST_PGBOUNCER=1).
	if _, err := migrate.Run(t.Context(), url, def, migrate.Options{}, nil); !errors.Is(err, migrate.ErrLocked) {
		t.Fatalf("through the pooled URL: err = %v, want ErrLocked", err)
	}

	// The context ends while the run waits (ended by the report that it waits, so that a slow
	// machine cannot end it before the run reaches the wait).
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := &recorder{onWaiting: cancel}
	_, err = migrate.Run(ctx, url, def, migrate.Options{DirectURL: direct, Wait: true}, rec)
	if !errors.Is(err, context.Canceled) || rec.waiting != 1 {
		t.Fatalf("waiting until the context ends: err = %v, waiting reported %d times", err, rec.waiting)
	}

	// The holder lets go while the run waits: the run goes on.
	rec = &recorder{onWaiting: func() {
		go func() {
			time.Sleep(50 * time.Millisecond)
			release()
		}()
	}}
	sum, err := migrate.Run(t.Context(), url, def, migrate.Options{DirectURL: direct, Wait: true}, rec)
	if err != nil || rec.waiting != 1 || sum.Recorded != 1 || sum.Current != 1 {
		t.Fatalf("after the release: err = %v, waiting %d, summary %+v", err, rec.waiting, sum)
	}
	// The lock is released when Run returns: the next runs take it at once, and one holding it
	// through the pooled URL keeps the others out.
	for range 3 {
		if _, err := migrate.Run(t.Context(), url, def, migrate.Options{}, nil); err != nil {
			t.Fatalf("the lock was not released: %v", err)
		}
	}
	if _, err := migrate.Run(t.Context(), url, def, migrate.Options{DirectURL: direct}, nil); err != nil {
		t.Fatalf("the lock was not released: %v", err)
	}
	rec = &recorder{}
	blocker := &blockingReporter{planned: make(chan struct{}), resume: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := migrate.Run(t.Context(), url, withPriority(t), migrate.Options{}, blocker)
		errc <- err
	}()
	<-blocker.planned // the first run holds the lock
	_, err = migrate.Run(t.Context(), url, def, migrate.Options{}, nil)
	close(blocker.resume)
	if !errors.Is(err, migrate.ErrLocked) {
		t.Errorf("while another run holds the lock through the pooled URL: err = %v, want ErrLocked", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// blockingReporter stops a run at its first plan until resume is closed.
type blockingReporter struct {
	migrate.NopReporter
	once            bool
	planned, resume chan struct{}
}

func (b *blockingReporter) Planned(*migrate.Plan) {
	if !b.once {
		b.once = true
		close(b.planned)
		<-b.resume
	}
}

// Status reports each schema's state from the ledger, in one query, and encodes to JSON.
func TestStatus(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()

	st, err := migrate.Status(t.Context(), dbtest.EmptyURL(t), def)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Schemas) != 1 || st.Schemas[0].Schema != "public" || st.Behind != 1 {
		t.Errorf("empty database: %+v, want public behind", st)
	}

	createTenants(t, url, def, "cur", "old", "bad", "new")
	run(t, url, def, migrate.Options{SharedOnly: true})
	dbtest.Exec(t, url, `UPDATE public.schema_ledger SET applied_hash = 'older' WHERE schema_name = 'old';
		UPDATE public.schema_ledger SET last_error = 'boom', last_error_at = now() WHERE schema_name = 'bad';
		DELETE FROM public.schema_ledger WHERE schema_name = 'new'`)
	st, err = migrate.Status(t.Context(), url, def)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st.Schemas {
		got = append(got, s.Schema+"="+s.State)
	}
	want := []string{"public=current", "bad=failed", "cur=current", "new=behind", "old=behind"}
	if !slices.Equal(got, want) || st.Current != 2 || st.Behind != 2 || st.Failed != 1 {
		t.Errorf("status %v (%d/%d/%d), want %v (2/2/1)", got, st.Current, st.Behind, st.Failed, want)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"schema":"bad","shared":false,"tenant_status":"active","state":"failed"`, `"last_error":"boom"`, `"tenant_hash":"` + def.TenantHash() + `"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON lacks %s: %s", s, b)
		}
	}
}

// --verify finds schemas changed by hand although the ledger calls them current, inspecting only
// those (one per distinct catalog), reports what would repair them, and repairs them unless the
// repair is destructive.
func TestVerify(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "clean1", "clean2", "extra_col", "no_index", "no_index2", "comment")
	run(t, url, def, migrate.Options{})
	dbtest.ExecEach(t, url,
		`ALTER TABLE extra_col.todos ADD COLUMN hand text`,
		`DROP INDEX no_index.todos_done_id_idx`,
		`DROP INDEX no_index2.todos_done_id_idx`,
		`COMMENT ON TABLE comment.todos IS 'changed by hand'`,
		`COMMENT ON TABLE public.users IS 'changed by hand'`,
	)

	rec := &recorder{}
	sum, err := migrate.Run(t.Context(), url, def, migrate.Options{Verify: true, DryRun: true}, rec)
	if !errors.Is(err, migrate.ErrIncomplete) || !strings.Contains(err.Error(), "5 schemas drifted") {
		t.Fatalf("dry-run verify: err = %v, want 5 drifted", err)
	}
	// public, and one inspection per distinct drifted catalog (no_index and no_index2 share one).
	if got, want := countsOf(sum), (counts{Schemas: 7, Current: 2, Pending: 4, Failed: 1, Drifted: 5, Inspections: 4}); got != want {
		t.Errorf("dry-run verify: %+v, want %+v", got, want)
	}
	plans := map[string]*migrate.Plan{}
	for _, p := range rec.plans {
		if !p.Drift {
			t.Errorf("plan for %v is not marked as drift", p.Schemas)
		}
		plans[strings.Join(p.Schemas, ",")] = p
	}
	if p := plans["no_index,no_index2"]; p == nil || len(p.Statements) != 2 || !strings.HasPrefix(p.Statements[0], `CREATE INDEX "todos_done_id_idx" ON "todos"`) {
		t.Errorf("no_index plan: %+v", p)
	}
	if p := plans["extra_col"]; p == nil || !p.Refused {
		t.Errorf("extra_col plan: %+v, want refused (it drops a column)", p)
	}
	if p := plans["comment"]; p == nil || len(p.Statements) != 1 || !strings.HasPrefix(p.Statements[0], `COMMENT ON TABLE "todos"`) {
		t.Errorf("comment plan: %+v", p)
	}
	if p := plans["public"]; p == nil || !p.Shared || len(p.Statements) != 1 || !strings.HasPrefix(p.Statements[0], `COMMENT ON TABLE "public"."users"`) {
		t.Errorf("public plan: %+v", p)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM pg_indexes WHERE indexname = 'todos_done_id_idx'`); n != 4 {
		t.Errorf("the dry run repaired something: %d indexes, want 4", n)
	}

	sum, err = migrate.Run(t.Context(), url, def, migrate.Options{Verify: true}, nil)
	if !errors.Is(err, migrate.ErrIncomplete) {
		t.Fatalf("verify: err = %v, want ErrIncomplete (extra_col's repair is refused)", err)
	}
	if got, want := countsOf(sum), (counts{Schemas: 7, Current: 2, Applied: 4, Failed: 1, Drifted: 5, Inspections: 4}); got != want {
		t.Errorf("verify: %+v, want %+v", got, want)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM pg_indexes WHERE indexname = 'todos_done_id_idx'`); n != 6 {
		t.Errorf("%d indexes after the repair, want 6", n)
	}
	// extra_col stays failed: the next plain run retries it (and refuses again).
	if got, want := countsOf(run(t, url, def, migrate.Options{Tenants: []string{"clean1", "comment"}})), (counts{Schemas: 2, Current: 2}); got != want {
		t.Errorf("after the repair: %+v, want %+v", got, want)
	}
	sum, _ = migrate.Run(t.Context(), url, def, migrate.Options{AllowDestructive: true, Verify: true}, nil)
	if got, want := countsOf(sum), (counts{Schemas: 7, Current: 6, Applied: 1, Inspections: 2}); got != want {
		t.Errorf("allowing the drop: %+v, want %+v", got, want)
	}
	if got, want := countsOf(run(t, url, def, migrate.Options{Verify: true})), (counts{Schemas: 7, Current: 7, Inspections: 1}); got != want {
		t.Errorf("final verify: %+v, want %+v", got, want)
	}
}

// A run whose lock connection dies stops: the keepalive notices, the run's context is cancelled
// with ErrLockLost as its cause, nothing more is applied, and the error says the lock was lost.
// The next run takes the lock and does the work.
func TestLockLost(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	direct := dbtest.DirectURL(t, url)
	def := schemadef.MustDefault()
	createTenants(t, url, def, "one", "two")
	run(t, url, def, migrate.Options{})
	next := withPriority(t)

	blocker := &blockingReporter{planned: make(chan struct{}), resume: make(chan struct{})}
	type result struct {
		sum *migrate.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := migrate.Run(context.Background(), url, next, migrate.Options{DirectURL: direct, LockKeepalive: 20 * time.Millisecond}, blocker)
		done <- result{sum, err}
	}()
	select {
	case <-blocker.planned: // the run holds the lock and has planned
	case res := <-done:
		t.Fatalf("the run ended before planning: %v (summary %+v)", res.err, res.sum)
	}
	// End the lock's session, as a server restart, a network failure or an operator would.
	if n := queryInt(t, direct, `SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
		  AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid`, int64(0x746f6f646f6f)); n != 1 {
		t.Fatalf("terminated %d lock holders, want 1", n)
	}
	time.Sleep(500 * time.Millisecond) // many keepalives
	close(blocker.resume)
	res := <-done
	t.Logf("the run's error: %v", res.err)
	if !errors.Is(res.err, migrate.ErrLockLost) || !strings.Contains(res.err.Error(), "advisory lock was lost") {
		t.Fatalf("err = %v, want ErrLockLost", res.err)
	}
	if res.sum.Applied != 0 || res.sum.Skipped != 2 {
		t.Errorf("summary %+v, want nothing applied and 2 skipped", res.sum)
	}
	if n := queryInt(t, url, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'todos' AND column_name = 'priority'`); n != 0 {
		t.Errorf("%d schemas changed after the lock was lost", n)
	}
	if got, want := countsOf(run(t, url, next, migrate.Options{})), (counts{Schemas: 3, Current: 1, Applied: 2, Inspections: 1}); got != want {
		t.Errorf("the next run: %+v, want %+v", got, want)
	}
}
