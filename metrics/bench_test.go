package metrics

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// BenchmarkStats is the cost of one read of the database's statistics (what a scrape costs the
// database at most once per TTL) on a fleet of TOODOO_BENCH_TENANTS tenants (default 1000), each
// with its ledger row, and 200 recorded migrator runs. BenchmarkScrapeCached is a whole scrape
// (the pool, and the cached read) as Prometheus's handler gathers it.
//
//	go test ./metrics/ -run '^$' -bench . -benchtime 200x -count 3
func BenchmarkStats(b *testing.B) {
	db, _ := benchFleet(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.Stats(b.Context(), MigrationBuckets); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScrapeCached(b *testing.B) {
	db, def := benchFleet(b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewFleet(db, def, FleetOptions{TTL: time.Hour}))
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

var benchTenants = func() int {
	n, err := strconv.Atoi(os.Getenv("TOODOO_BENCH_TENANTS"))
	if err != nil || n <= 0 {
		return 1000
	}
	return n
}()

func benchFleet(b *testing.B) (*tenancy.DB, *schemadef.Definition) {
	b.Helper()
	url := dbtest.URL(b)
	db := testfactory.DB(b.Context(), b, url)
	opts := make([]*testfactory.TenantOpts, benchTenants)
	for i := range opts {
		opts[i] = &testfactory.TenantOpts{Name: fmt.Sprintf("bench%05d", i)}
	}
	testfactory.Tenants(b.Context(), b, db, opts...)
	dbtest.Exec(b, url, `INSERT INTO public.migration_runs (duration_seconds, outcome, schemas, applied, failed)
		SELECT random() * 60, (ARRAY['ok', 'incomplete', 'stopped', 'error'])[1 + i % 4], 1000, 10, i % 4 FROM generate_series(1, 200) i`)
	return db, schemadef.MustDefault()
}
