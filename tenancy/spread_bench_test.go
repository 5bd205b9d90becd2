package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// spreadFleet makes TOODOO_BENCH_TENANTS tenants (default 200) with 20 to-dos each, the API
// list's data, on one database, and returns its URL and the tenants.
func spreadFleet(b *testing.B) (string, []tenancy.Tenant) {
	n, err := strconv.Atoi(os.Getenv("TOODOO_BENCH_TENANTS"))
	if err != nil {
		n = 200
	}
	ctx := b.Context()
	url := dbtest.URL(b)
	db := testfactory.DB(ctx, b, url)
	def := schemadef.MustDefault()
	tenants := make([]tenancy.Tenant, n)
	for i := range tenants {
		tenants[i] = testfactory.Tenant(ctx, b, db, &testfactory.TenantOpts{Def: def, Name: fmt.Sprintf("spread%05d", i)})
		for k := range 20 {
			testfactory.Todo(ctx, b, db, tenants[i], &testfactory.TodoOpts{Title: fmt.Sprintf("to-do %d", k)})
		}
	}
	return url, tenants
}

// readList is the API list's read (TodoPage) through the tenant scope.
func readList(b *testing.B, db *tenancy.DB, tn tenancy.Tenant) {
	todos, err := tenancy.InReadTxV(b.Context(), db, tn, func(ctx context.Context, q *tenantdb.Queries) ([]tenantdb.Todo, error) {
		return q.TodoPage(ctx, tenantdb.TodoPageParams{MaxRows: 51})
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(todos) != 20 {
		b.Fatalf("%s: %d to-dos, want 20", tn.Schema, len(todos))
	}
}

// BenchmarkSpread is the database's side of the spread tax (issue 11), on one connection, warm
// (it has entered every tenant before the timing): the API list's read on one tenant, then each
// read on a random tenant, in pgx's default exec mode (statements prepared once per connection)
// and in exec mode (unnamed statements, parsed and planned on every run, as the simple protocol
// and PgBouncer setups do). PostgreSQL analyses and plans a prepared statement again whenever it
// runs under a search_path other than the one it was planned under: if that cost more than a
// fresh parse and plan, exec mode would be the faster one spread.
func BenchmarkSpread(b *testing.B) {
	url, tenants := spreadFleet(b)
	for _, mode := range []string{"cache_statement", "exec"} {
		db := oneConn(b, url, "&pool_max_conn_schemas=0&default_query_exec_mode="+mode)
		for _, tn := range tenants {
			readList(b, db, tn)
		}
		b.Run("mode="+mode+"/one", func(b *testing.B) {
			for b.Loop() {
				readList(b, db, tenants[0])
			}
		})
		b.Run("mode="+mode+"/spread", func(b *testing.B) {
			for b.Loop() {
				readList(b, db, tenants[rand.IntN(len(tenants))])
			}
		})
	}
}

// BenchmarkSchemaFirstVisit is what pool_max_conn_schemas trades: on a new connection, the API
// list's read in each tenant once (the backend loads that schema's catalog entries: cold-us per
// schema) and then once more (warm-us), and the backend's memory grown per schema entered
// (KiB/schema, from pg_backend_memory_contexts, which needs a superuser or pg_read_all_stats;
// left out when refused).
func BenchmarkSchemaFirstVisit(b *testing.B) {
	url, tenants := spreadFleet(b)
	var cold, warm time.Duration
	var grown float64
	for b.Loop() {
		b.StopTimer()
		db := oneConn(b, url, "&pool_max_conn_schemas=0")
		readList(b, db, tenants[0]) // prepares the statement
		memory := func() (int64, bool) {
			var n int64
			err := db.Pool().QueryRow(b.Context(), "SELECT sum(total_bytes) FROM pg_backend_memory_contexts").Scan(&n)
			return n, err == nil
		}
		before, measured := memory()
		b.StartTimer()
		start := time.Now()
		for _, tn := range tenants[1:] {
			readList(b, db, tn)
		}
		cold += time.Since(start)
		start = time.Now()
		for _, tn := range tenants[1:] {
			readList(b, db, tn)
		}
		warm += time.Since(start)
		b.StopTimer()
		if after, ok := memory(); ok && measured {
			grown += float64(after-before) / 1024 / float64(len(tenants)-1)
		}
		db.Close()
		b.StartTimer()
	}
	visits := float64(b.N * (len(tenants) - 1))
	b.ReportMetric(float64(cold.Microseconds())/visits, "cold-us/schema")
	b.ReportMetric(float64(warm.Microseconds())/visits, "warm-us/schema")
	if grown > 0 {
		b.ReportMetric(grown/float64(b.N), "KiB/schema")
	}
}
