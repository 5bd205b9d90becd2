package tenancy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// footprint counts what a tenant named name left behind: its schema, registry row, domains and
// ledger row.
func footprint(t *testing.T, db *tenancy.DB, name string) (schemas, tenants, domains, ledger int) {
	t.Helper()
	err := db.Pool().QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM pg_namespace WHERE nspname = $1),
		(SELECT count(*) FROM public.tenants WHERE schema_name = $1),
		(SELECT count(*) FROM public.domains d JOIN public.tenants t ON t.id = d.tenant_id WHERE t.schema_name = $1),
		(SELECT count(*) FROM public.schema_ledger WHERE schema_name = $1)`, name).Scan(&schemas, &tenants, &domains, &ledger)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestCreate(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	def := schemadef.MustDefault()
	tn, err := db.Create(t.Context(), def, tenancy.CreateParams{Name: "acme", DisplayName: "Acme Inc.", Domain: "Acme.Example.COM."})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Schema != "acme" || tn.DisplayName != "Acme Inc." || tn.Status != tenancy.StatusActive || tn.ID == 0 {
		t.Errorf("Create returned %+v", tn)
	}
	if s, tr, d, l := footprint(t, db, "acme"); s != 1 || tr != 1 || d != 1 || l != 1 {
		t.Errorf("footprint = schema %d, tenant %d, domains %d, ledger %d; want 1 each", s, tr, d, l)
	}
	row, err := db.ResolveHost(t.Context(), "acme.example.com")
	if err != nil {
		t.Fatalf("the primary domain is stored lowercase without trailing dot: %v", err)
	}
	if row.Schema != "acme" {
		t.Errorf("acme.example.com resolves to %q", row.Schema)
	}
	var hash string
	if err := db.Pool().QueryRow(t.Context(), "SELECT applied_hash FROM public.schema_ledger WHERE schema_name = 'acme'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if hash != def.TenantHash() {
		t.Errorf("ledger hash = %q, want the template's %q", hash, def.TenantHash())
	}
	// The title CHECK from schema.hcl is there.
	err = db.InTx(t.Context(), tn, func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: strings.Repeat("x", 501), CreatedBy: 1})
		return err
	})
	if toodoo.ErrorCode(err) != toodoo.EINVALID {
		t.Errorf("a 501-character title: err = %v, want EINVALID from the CHECK", err)
	}
}

func TestCreateIsAtomic(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	def := schemadef.MustDefault()
	testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Name: "taken"})

	broken, err := schemadef.Load(bytes.Replace(toodoo.SchemaHCL, []byte(`expr = "(done = (completed_at IS NOT NULL))"`), []byte(`expr = "(done = (no_such_column IS NOT NULL))"`), 1))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(broken.HCL(), toodoo.SchemaHCL) {
		t.Fatal("the failure was not injected")
	}
	for _, test := range []struct {
		name string
		def  *schemadef.Definition
		p    tenancy.CreateParams
		code string
	}{
		{"DDLError", broken, tenancy.CreateParams{Name: "ddlfail", Domain: "ddlfail.example.test"}, toodoo.EINTERNAL},
		{"DomainTaken", def, tenancy.CreateParams{Name: "domainfail", Domain: "taken.example.test"}, toodoo.ECONFLICT},
		{"ThenFails", def, tenancy.CreateParams{Name: "thenfail", Domain: "thenfail.example.test", Then: func(ctx context.Context, tx *tenancy.Tx, tn tenancy.Tenant) error {
			return toodoo.Invalid("email", "injected failure after the schema exists")
		}}, toodoo.EINVALID},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := db.Create(t.Context(), test.def, test.p)
			if got := toodoo.ErrorCode(err); got != test.code {
				t.Fatalf("Create: err = %v (code %q), want code %q", err, got, test.code)
			}
			if s, tr, d, l := footprint(t, db, test.p.Name); s+tr+d+l != 0 {
				t.Errorf("after a failed Create: schema %d, tenant %d, domains %d, ledger %d; want nothing", s, tr, d, l)
			}
		})
	}
	// The name is still free.
	testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Name: "ddlfail"})
}

func TestCreateRefusesBadNames(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Name: "acme"})
	for _, test := range []struct{ name, want string }{
		{`a"; DROP SCHEMA public; --`, "not allowed"},
		{"PG_x", "lowercase"},
		{"pg_x", "reserved"},
		{strings.Repeat("a", 64), "too long"},
		{"ACME", "lowercase"},
		{"", "required"},
		{"public", "reserved"},
		{"information_schema", "reserved"},
		{"toodoo_trash_1", "reserved"},
		{"1abc", "not allowed"},
		{"a-b", "not allowed"},
		{"acme", "exists already"},
	} {
		_, err := db.Create(t.Context(), schemadef.MustDefault(), tenancy.CreateParams{Name: test.name, Domain: "x" + strconv.Itoa(len(test.name)) + ".example.test"})
		if err == nil || !strings.Contains(toodoo.ErrorMessage(err), test.want) {
			t.Errorf("Create(%q): err = %v, want a message containing %q", test.name, err, test.want)
		}
		if strings.Contains(toodoo.ErrorMessage(err), "\n") {
			t.Errorf("Create(%q): message has several lines: %q", test.name, toodoo.ErrorMessage(err))
		}
	}
	var n int
	if err := db.Pool().QueryRow(t.Context(), "SELECT count(*) FROM public.tenants").Scan(&n); err != nil || n != 1 {
		t.Errorf("tenants after refused names = %d (%v), want 1", n, err)
	}
	// 63 characters is the limit, and it works.
	testfactory.Tenant(t.Context(), t, db, &testfactory.TenantOpts{Name: strings.Repeat("a", 63)})
}

func TestCreateRefusesBadDomains(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	for _, d := range []string{"", "acme.test:8080", "http://acme.test", "acme.test/x", "127.0.0.1", "-bad.test", "a..b"} {
		_, err := db.Create(t.Context(), schemadef.MustDefault(), tenancy.CreateParams{Name: "acme", Domain: d})
		if toodoo.ErrorCode(err) != toodoo.EINVALID {
			t.Errorf("Create with domain %q: err = %v, want EINVALID", d, err)
		}
	}
}

func TestSuspendResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tn, err := b.db.SetStatus(t.Context(), "first", tenancy.StatusSuspended)
	if err != nil || tn.Status != tenancy.StatusSuspended {
		t.Fatalf("suspend: %+v, %v", tn, err)
	}
	row, err := b.db.ResolveHost(t.Context(), "first.example.test")
	if err != nil || row.Status != tenancy.StatusSuspended {
		t.Errorf("resolve suspended: %+v, %v", row, err)
	}
	if tn, err := b.db.SetStatus(t.Context(), "first", tenancy.StatusActive); err != nil || tn.Status != tenancy.StatusActive {
		t.Errorf("resume: %+v, %v", tn, err)
	}
	if _, err := b.db.SetStatus(t.Context(), "nobody", tenancy.StatusActive); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Errorf("resume unknown: err = %v, want ENOTFOUND", err)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	t.Run("MarkOnly", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{Title: "kept for restore"})
		if err := b.db.Delete(t.Context(), "first", false); err != nil {
			t.Fatal(err)
		}
		if s, tr, d, _ := footprint(t, b.db, "first"); s != 1 || tr != 1 || d != 0 {
			t.Errorf("after delete: schema %d, tenant %d, domains %d; want 1, 1, 0", s, tr, d)
		}
		if _, err := b.db.ResolveHost(t.Context(), "first.example.test"); err == nil {
			t.Error("a deleted tenant's domain still resolves")
		}
		// The domain is free for someone else.
		if _, err := b.db.AddDomain(t.Context(), "second", "first.example.test", false); err != nil {
			t.Errorf("released domain cannot be reused: %v", err)
		}
	})
	t.Run("Drop", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{Title: "gone"})
		if err := b.db.Delete(t.Context(), "first", true); err != nil {
			t.Fatal(err)
		}
		if s, tr, d, l := footprint(t, b.db, "first"); s+tr+d+l != 0 {
			t.Errorf("after delete --drop: schema %d, tenant %d, domains %d, ledger %d; want nothing", s, tr, d, l)
		}
		if trash, err := b.db.TrashSchemas(t.Context()); err != nil || len(trash) != 0 {
			t.Errorf("trash after drop = %v, %v; want empty", trash, err)
		}
		testfactory.Tenant(t.Context(), t, b.db, &testfactory.TenantOpts{Name: "first"}) // the name is free again
		if got := listTitles(t, b.db, tenancy.Tenant{ID: 1, Schema: "first"}); len(got) != 0 {
			t.Errorf("a re-created tenant sees old data: %q", got)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		db := testfactory.DB(t.Context(), t, dbtest.URL(t))
		if err := db.Delete(t.Context(), "nobody", true); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
			t.Errorf("delete unknown: err = %v, want ENOTFOUND", err)
		}
	})
}

func TestDomains(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	if _, err := b.db.AddDomain(ctx, "first", "todo.first.test", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.AddDomain(ctx, "second", "TODO.first.test", false); toodoo.ErrorCode(err) != toodoo.ECONFLICT {
		t.Errorf("a taken domain (other case): err = %v, want ECONFLICT", err)
	}
	if err := b.db.RemoveDomain(ctx, "first.example.test"); toodoo.ErrorCode(err) != toodoo.EINVALID {
		t.Errorf("removing the primary domain: err = %v, want EINVALID", err)
	}
	if _, err := b.db.AddDomain(ctx, "first", "todo.first.test", true); err != nil {
		t.Fatalf("make an existing domain primary: %v", err)
	}
	if err := b.db.RemoveDomain(ctx, "first.example.test"); err != nil {
		t.Errorf("removing a former primary: %v", err)
	}
	domains, err := b.db.SharedQueries().DomainListByTenant(ctx, b.first.ID)
	if err != nil || len(domains) != 1 || !domains[0].IsPrimary || domains[0].Domain != "todo.first.test" {
		t.Errorf("first's domains = %+v, %v; want todo.first.test as the only, primary, domain", domains, err)
	}
	if err := b.db.RemoveDomain(ctx, "nowhere.test"); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Errorf("removing an unknown domain: err = %v, want ENOTFOUND", err)
	}
}

func TestCreateConcurrentSameName(t *testing.T) {
	t.Parallel()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := db.Create(t.Context(), schemadef.MustDefault(), tenancy.CreateParams{Name: "race", Domain: fmt.Sprintf("race%d.example.test", i)})
			errs <- err
		}()
	}
	var ok, conflict int
	for range 4 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case toodoo.ErrorCode(err) == toodoo.ECONFLICT:
			conflict++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflict != 3 {
		t.Errorf("4 concurrent creates of one name: %d succeeded, %d conflicts; want 1 and 3", ok, conflict)
	}
}

// BenchmarkCreate measures tenant creation inside the process (the target: p50 at most
// 10 ms): Cold runs the template DDL, Warm renames a spare schema built beforehand (outside the
// timing). TOODOO_BENCH_EXISTING=N tenants (default 100) are created before the timing starts:
// with a larger N it shows that creation does not slow down as tenants multiply, and the default
// warms a fresh test server (its first WAL segments are still being created, which a production
// server has long done). It reports p50 and p90 besides ns/op.
func BenchmarkCreate(b *testing.B) {
	db := testfactory.DB(b.Context(), b, dbtest.URL(b))
	def := schemadef.MustDefault()
	existing, err := strconv.Atoi(os.Getenv("TOODOO_BENCH_EXISTING"))
	if err != nil {
		existing = 100
	}
	for i := range existing {
		testfactory.Tenant(b.Context(), b, db, &testfactory.TenantOpts{Cold: true, Def: def, Name: fmt.Sprintf("pre%05d", i)})
	}
	n := 0
	for _, cold := range []bool{true, false} {
		name := map[bool]string{true: "Cold", false: "Warm"}[cold]
		b.Run(name, func(b *testing.B) {
			var durations []time.Duration
			for b.Loop() {
				if !cold {
					b.StopTimer()
					if _, err := db.FillSpares(b.Context(), def, 1, tenancy.SpareGrace); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				n++
				start := time.Now()
				if _, err := db.Create(b.Context(), def, tenancy.CreateParams{Name: fmt.Sprintf("bench%07d", n), Domain: fmt.Sprintf("bench%07d.example.test", n), Cold: cold}); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
			}
			sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
			b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(durations[len(durations)*9/10].Microseconds())/1000, "p90-ms")
		})
	}
}

// BenchmarkQuery compares one read through the tenant scope (an implicit transaction: the
// scope and the query in one round trip; or BEGIN READ ONLY, SET LOCAL, query, COMMIT) with the
// same read on the bare pool with a schema-qualified name: the price of the scope.
func BenchmarkQuery(b *testing.B) {
	db := testfactory.DB(b.Context(), b, dbtest.URL(b))
	tn := testfactory.Tenant(b.Context(), b, db, &testfactory.TenantOpts{Name: "bench"})
	for i := range 20 {
		testfactory.Todo(b.Context(), b, db, tn, &testfactory.TodoOpts{Title: fmt.Sprintf("todo %d", i)})
	}
	ctx := b.Context()
	b.Run("Scoped", func(b *testing.B) {
		for b.Loop() {
			_, err := tenancy.InReadTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.TodoCountsRow, error) {
				return q.TodoCounts(ctx)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	// The read scope as one READ ONLY transaction, as before implicit reads (one more round
	// trip: COMMIT), and a page's read (its list with the counts) both ways.
	implicit := tenancy.ImplicitReads(db)
	b.Run("ScopedExplicit", func(b *testing.B) {
		tenancy.SetImplicitReads(db, false)
		defer tenancy.SetImplicitReads(db, implicit)
		for b.Loop() {
			_, err := tenancy.InReadTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.TodoCountsRow, error) {
				return q.TodoCounts(ctx)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	page := func(b *testing.B) {
		for b.Loop() {
			err := db.InReadTx(ctx, tn, func(ctx context.Context, q *tenantdb.Queries) error {
				_, err := q.TodoList(ctx, tenantdb.TodoListParams{MaxRows: 101})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("ScopedPage", page)
	b.Run("ScopedPageExplicit", func(b *testing.B) {
		tenancy.SetImplicitReads(db, false)
		defer tenancy.SetImplicitReads(db, implicit)
		page(b)
	})
	b.Run("ScopedReadWrite", func(b *testing.B) {
		for b.Loop() {
			_, err := tenancy.InTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.TodoCountsRow, error) {
				return q.TodoCounts(ctx)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unscoped", func(b *testing.B) {
		for b.Loop() {
			var open, done int64
			err := db.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT done), count(*) FILTER (WHERE done) FROM "bench".todos`).Scan(&open, &done)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateFleet creates 1000 tenants one after another (the target: at most
// 15 s), cold (no spare schemas), and reports the total and the p50 of the first and of the last
// hundred creations: if creation slowed down as tenants multiply, last100 would exceed first100.
// Skipped with -short.
func BenchmarkCreateFleet(b *testing.B) {
	if testing.Short() {
		b.Skip("creates 1000 tenants per iteration")
	}
	const n = 1000
	def := schemadef.MustDefault()
	p50 := func(d []time.Duration) float64 {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	for b.Loop() {
		b.StopTimer()
		db := testfactory.DB(b.Context(), b, dbtest.URL(b))
		durations := make([]time.Duration, 0, n)
		b.StartTimer()
		start := time.Now()
		for i := range n {
			t0 := time.Now()
			if _, err := db.Create(b.Context(), def, tenancy.CreateParams{Name: fmt.Sprintf("t%04d", i), Domain: fmt.Sprintf("t%04d.example.test", i), Cold: true}); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(t0))
		}
		b.ReportMetric(time.Since(start).Seconds(), "total-s")
		b.ReportMetric(p50(durations[:100]), "first100-p50-ms")
		b.ReportMetric(p50(durations[n-100:]), "last100-p50-ms")
	}
}
