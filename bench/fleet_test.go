package main

import (
	"testing"
	"time"
)

// BenchmarkFleet is bench fleet at 1,000 tenants, in the normal benchmark set (`go tool task
// bench`; skipped with -short): the commands an operator runs, timed as processes, reported as
// metrics. Like bench fleet it uses BENCH_DATABASE_URL or TEST_DATABASE_URL, else a private
// cluster; BENCH_TENANTS changes the size. The server's memory under traffic is left to bench
// fleet (it needs wrk).
//
//	go test ./bench -run '^$' -bench Fleet -benchtime 1x
func BenchmarkFleet(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a fleet of 1000 tenants: skipped with -short")
	}
	o := fleetOptionsFromEnv()
	o.NoServer = true
	o.Rounds = 3
	for b.Loop() {
		r, d, err := fleet(b.Context(), o)
		if err != nil {
			b.Fatal(err)
		}
		d.Close()
		b.ReportMetric(r.CreateTotal.Seconds()/float64(o.Tenants)*1000, "create-ms/tenant")
		b.ReportMetric(r.CreateLastMs/max(r.CreateFirstMs, 0.001), "create-last/first")
		b.ReportMetric(r.NoopMs, "noop-ms")
		b.ReportMetric(r.StatusMs, "status-ms")
		b.ReportMetric(r.ListMs, "list-ms")
		b.ReportMetric(r.AddColumnMs, "addcolumn-ms")
		b.ReportMetric(r.VerifyMs, "verify-ms")
		b.ReportMetric(r.CLICreateMs, "cli-create-ms")
		b.Logf("%d tenants: created in %s; noop %.0f ms, status %.0f ms, list %.0f ms, add column %.0f ms, verify %.0f ms",
			o.Tenants, r.CreateTotal.Round(time.Millisecond), r.NoopMs, r.StatusMs, r.ListMs, r.AddColumnMs, r.VerifyMs)
	}
}
