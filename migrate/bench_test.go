package migrate_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
)

// The fleet benchmarks run over 100 and 1000 tenants (1000 is skipped with -short: building the
// fleet takes a while). Each reports, besides ns/op, the median wall time of one whole run
// (connecting, lock, ledger, ...: what `toodoo migrate` costs) as p50-ms, and the Atlas
// inspections per run. They never assert timings. Run them with e.g.
//
//	go test ./migrate -run '^$' -bench . -benchtime 5x
var fleetSizes = []int{100, 1000}

// fleet returns the URL of a database with n tenants made by tenancy.Create and "public"
// recorded in the ledger, so the next run with the default definition has nothing to do.
func fleet(b *testing.B, n int) string {
	b.Helper()
	if n > 100 && testing.Short() {
		b.Skipf("%d tenants: skipped with -short", n)
	}
	url := dbtest.URL(b)
	createTenants(b, url, schemadef.MustDefault(), tenantNames("tenant", n)...)
	run(b, url, schemadef.MustDefault(), migrate.Options{})
	return url
}

// benchRuns runs next(i) as one migrate.Run per iteration and reports the median and the
// inspections; prepare, if set, runs outside the timing before each iteration.
func benchRuns(b *testing.B, url string, prepare func(i int) (*schemadef.Definition, migrate.Options), check func(*migrate.Summary)) {
	b.Helper()
	var (
		durations   []time.Duration
		inspections int
	)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		def, opts := prepare(i)
		b.StartTimer()
		start := time.Now()
		sum, err := migrate.Run(b.Context(), url, def, opts, nil)
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		check(sum)
		inspections += sum.Inspections
	}
	b.Logf("%d runs, in order: %v", len(durations), durations)
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(inspections)/float64(len(durations)), "inspections/op")
}

// BenchmarkNoop: the ledger says nothing is due.
func BenchmarkNoop(b *testing.B) {
	for _, n := range fleetSizes {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			url := fleet(b, n)
			def := schemadef.MustDefault()
			benchRuns(b, url, func(int) (*schemadef.Definition, migrate.Options) { return def, migrate.Options{} },
				func(s *migrate.Summary) {
					if s.Applied+s.Recorded+s.Failed != 0 || s.Current != n+1 {
						b.Fatalf("no-op run did something: %+v", s)
					}
				})
		})
	}
}

// BenchmarkAddColumn: every iteration ships a schema.hcl with one more column in todos, which
// every tenant gets.
func BenchmarkAddColumn(b *testing.B) {
	for _, n := range fleetSizes {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			url := fleet(b, n)
			benchRuns(b, url, func(i int) (*schemadef.Definition, migrate.Options) {
				return withColumns(b, i+1), migrate.Options{}
			}, func(s *migrate.Summary) {
				if s.Applied != n || s.Failed != 0 {
					b.Fatalf("add column: %+v", s)
				}
			})
		})
	}
}

// BenchmarkVerify: fingerprint every tenant against the template; nothing has drifted.
func BenchmarkVerify(b *testing.B) {
	for _, n := range fleetSizes {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			url := fleet(b, n)
			def := schemadef.MustDefault()
			benchRuns(b, url, func(int) (*schemadef.Definition, migrate.Options) { return def, migrate.Options{Verify: true} },
				func(s *migrate.Summary) {
					if s.Current != n+1 || s.Drifted != 0 {
						b.Fatalf("verify: %+v", s)
					}
				})
		})
	}
}

// withColumns is schema.hcl with k extra nullable columns bench_1..bench_k in todos.
func withColumns(tb testing.TB, k int) *schemadef.Definition {
	tb.Helper()
	var blocks strings.Builder
	for j := 1; j <= k; j++ {
		fmt.Fprintf(&blocks, "  column \"bench_%d\" {\n    type = integer\n    null = true\n  }\n", j)
	}
	return withBlocks(tb, blocks.String())
}
