package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// series is one gathered series: labels and value (a histogram's is its count; its sum is in
// sum).
type series struct {
	labels map[string]string
	value  float64
	sum    float64
}

func gather(t *testing.T, g prometheus.Gatherer) map[string][]series {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string][]series{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := series{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.value, s.sum = float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// get returns the value of the one series of name with exactly the labels kv (name, value
// pairs), and whether it exists.
func get(fams map[string][]series, name string, kv ...string) (float64, bool) {
	for _, s := range fams[name] {
		if len(s.labels) != len(kv)/2 {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				match = false
			}
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

func want(t *testing.T, fams map[string][]series, v float64, name string, kv ...string) {
	t.Helper()
	got, ok := get(fams, name, kv...)
	if !ok {
		t.Errorf("%s%v: no such series (have %v)", name, kv, fams[name])
	} else if got != v {
		t.Errorf("%s%v = %v, want %v", name, kv, got, v)
	}
}

// fleetLabels are every label name the fleet's families may carry: small fixed sets.
var fleetLabels = []string{"state", "reason", "status", "kind", "outcome", "result"}

// TestFleet: the collector reports the pool, tenants by status, schemas by ledger state, the
// migrator's runs (recorded by migrate.Run in the CLI's process, read here from the table) and
// the mail queue, from a real database; no label names a tenant.
func TestFleet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.URL(t)
	db := testfactory.DB(ctx, t, url)
	def := schemadef.MustDefault()
	tenants := testfactory.Tenants(ctx, t, db, &testfactory.TenantOpts{Name: "first"}, &testfactory.TenantOpts{Name: "second"},
		&testfactory.TenantOpts{Name: "third"})
	if _, err := db.SetStatus(ctx, "second", tenancy.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	// Two migrator runs (public gets its ledger row), and a dry run, which leaves no row.
	for _, opts := range []migrate.Options{{}, {}, {DryRun: true}} {
		if _, err := migrate.Run(ctx, url, def, opts, nil); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	// The third tenant's last attempt failed; a queued mail waits.
	dbtest.Exec(t, url, "UPDATE public.schema_ledger SET last_error = 'lock timeout', last_error_at = now() WHERE schema_name = $1", tenants[2].Schema)
	if err := db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		return tx.Enqueue(ctx, mail.Message{To: "ops@example.com", Subject: "Queued", Text: "Waiting."})
	}); err != nil {
		t.Fatal(err)
	}

	m := New(db, def)
	m.MailAttempt(mail.ResultRetry)
	fams := gather(t, m.Gatherer())

	want(t, fams, 1, "toodoo_stats_up")
	want(t, fams, 0, "toodoo_stats_errors_total")
	want(t, fams, 2, "toodoo_tenants", "status", "active")
	want(t, fams, 1, "toodoo_tenants", "status", "suspended")
	want(t, fams, 0, "toodoo_tenants", "status", "deleted")
	want(t, fams, 1, "toodoo_schemas", "kind", "shared", "state", "current")
	want(t, fams, 2, "toodoo_schemas", "kind", "tenant", "state", "current") // suspended tenants are migrated too
	want(t, fams, 1, "toodoo_schemas", "kind", "tenant", "state", "failed")
	want(t, fams, 0, "toodoo_schemas", "kind", "tenant", "state", "behind")
	want(t, fams, 2, "toodoo_migrator_run_duration_seconds", "outcome", "ok")
	want(t, fams, 0, "toodoo_migrator_run_duration_seconds", "outcome", "incomplete")
	if v, ok := get(fams, "toodoo_migrator_last_run_timestamp_seconds", "outcome", "ok"); !ok || time.Since(time.Unix(int64(v), 0)) > time.Hour {
		t.Errorf("last ok run at %v (%t), want a moment ago", v, ok)
	}
	if _, ok := get(fams, "toodoo_migrator_last_run_timestamp_seconds", "outcome", "error"); ok {
		t.Error("a last run timestamp for an outcome that never happened")
	}
	want(t, fams, 1, "toodoo_queue_jobs", "kind", "mail", "state", "available")
	want(t, fams, 0, "toodoo_queue_jobs", "kind", "mail", "state", "discarded")
	want(t, fams, 1, "toodoo_mail_attempts_total", "result", "retry")
	want(t, fams, 0, "toodoo_mail_attempts_total", "result", "sent")
	if v, ok := get(fams, "toodoo_db_pool_max_connections"); !ok || v < 1 {
		t.Errorf("pool max connections = %v (%t)", v, ok)
	}
	if v, _ := get(fams, "toodoo_db_pool_acquires_total"); v < 1 {
		t.Errorf("pool acquires = %v, want some", v)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	for name, ss := range fams {
		if !strings.HasPrefix(name, "toodoo_") {
			continue
		}
		for _, s := range ss {
			for k, v := range s.labels {
				if !slices.Contains(fleetLabels, k) {
					t.Errorf("%s has label %q=%q, not one of %v", name, k, v, fleetLabels)
				}
				for _, tn := range tenants {
					if strings.Contains(v, tn.Schema) {
						t.Errorf("%s{%s=%q} names a tenant", name, k, v)
					}
				}
			}
		}
	}
}

// TestFleetCache: the database is read at most once per TTL, whatever the scrapes; a failed
// read is reported (toodoo_stats_up 0) and cached too, and the pool is still reported.
func TestFleetCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.URL(t)
	db := testfactory.DB(ctx, t, url)
	def := schemadef.MustDefault()
	testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})

	cached := prometheus.NewRegistry()
	cached.MustRegister(NewFleet(db, def, FleetOptions{TTL: time.Hour}))
	fresh := prometheus.NewRegistry()
	fresh.MustRegister(NewFleet(db, def, FleetOptions{TTL: time.Nanosecond}))
	for _, g := range []prometheus.Gatherer{cached, fresh} {
		want(t, gather(t, g), 1, "toodoo_tenants", "status", "active")
	}
	testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second"})
	want(t, gather(t, cached), 1, "toodoo_tenants", "status", "active") // within its TTL: not read again
	want(t, gather(t, fresh), 2, "toodoo_tenants", "status", "active")

	// The statistics' read fails (a table it reads is gone): reported, and not retried within the TTL.
	failing := prometheus.NewRegistry()
	fleet := NewFleet(db, def, FleetOptions{TTL: time.Hour})
	failing.MustRegister(fleet)
	dbtest.Exec(t, url, "DROP TABLE public.migration_runs")
	for range 3 {
		fams := gather(t, failing)
		want(t, fams, 0, "toodoo_stats_up")
		want(t, fams, 1, "toodoo_stats_errors_total")
		if _, ok := fams["toodoo_tenants"]; ok {
			t.Error("tenants reported although the read failed")
		}
		if _, ok := get(fams, "toodoo_db_pool_max_connections"); !ok {
			t.Error("the pool is not reported when the database read fails")
		}
	}
}

// TestServe: the metrics listener serves the text format and stops when its context ends.
func TestServe(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testfactory.DB(ctx, t, dbtest.URL(t))
	m := New(db, schemadef.MustDefault())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Serve(sctx, ln, m.Handler(), slog.New(slog.DiscardHandler))
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "# TYPE toodoo_tenants gauge") {
		t.Errorf("scrape: %d\n%.500s", resp.StatusCode, body)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}
