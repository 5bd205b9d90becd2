package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample is one series of a gathered family: its labels and its value (a counter's or a
// gauge's, or a histogram's sample count).
type sample struct {
	labels map[string]string
	value  float64
}

// gather reads every toodoo_ family of g, by name.
func gather(t *testing.T, g prometheus.Gatherer) map[string][]sample {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string][]sample{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "toodoo_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// value is the value of the series of name whose labels include want (0 when none).
func value(fams map[string][]sample, name string, want map[string]string) float64 {
	var v float64
	for _, s := range fams[name] {
		match := true
		for k, w := range want {
			if s.labels[k] != w {
				match = false
			}
		}
		if match {
			v += s.value
		}
	}
	return v
}

// wantValue fails the test unless the series of name with the labels has the value.
func wantValue(t *testing.T, fams map[string][]sample, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := value(fams, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v (series: %v)", name, labels, got, want, fams[name])
	}
}

// allowedLabels are every label name the server's families may carry: fixed, small sets of
// values. A tenant label (or any label whose values grow with the fleet) is not among them.
var allowedLabels = []string{"site", "route", "method", "code", "result", "scope", "verdict", "reason"}

// wantNoTenantLabels fails the test if a family has a label outside allowedLabels, or a label
// value that names a tenant (its schema or one of its hosts).
func wantNoTenantLabels(t *testing.T, fams map[string][]sample, tenantNames ...string) {
	t.Helper()
	for name, series := range fams {
		for _, s := range series {
			for k, v := range s.labels {
				if !slices.Contains(allowedLabels, k) {
					t.Errorf("%s has label %q=%q, not one of %v", name, k, v, allowedLabels)
				}
				for _, tn := range tenantNames {
					if strings.Contains(v, tn) {
						t.Errorf("%s{%s=%q} names tenant %q", name, k, v, tn)
					}
				}
			}
		}
	}
}

// TestMetricsRequests: after real requests on two workspaces and the public site, the request
// counters and histograms moved under the route's pattern (never the raw path), the site,
// method and status; the host look-ups and the host map's gauges are right; no family has a
// tenant label; the public handler does not serve /metrics on any host; the top-N names the
// tenant that sent the most requests.
func TestMetricsRequests(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b := setup(t, func(c *Config) { c.Metrics = reg })

	alice := b.browser(firstHost)
	// alice: 8 requests on first (with /metrics below), bob 2 on second.
	alice.login("alice@example.com")
	wantStatus(t, alice.get("/"), http.StatusOK)
	wantStatus(t, alice.get("/"), http.StatusOK)
	wantStatus(t, alice.get("/todos/987654/edit"), 404) // a route, with an id: 404
	wantStatus(t, alice.get("/todos/123/edit"), 404)
	wantStatus(t, alice.api(http.MethodGet, "/api/v1/todos", "", ""), http.StatusOK)
	wantStatus(t, alice.get("/no/such/page"), http.StatusNotFound)
	bob := b.browser(secondHost)
	wantStatus(t, bob.get("/"), http.StatusSeeOther) // anonymous: to /login
	pub := b.browser(testBase)
	wantStatus(t, pub.get("/signup"), http.StatusOK)
	wantStatus(t, pub.get("/healthz"), http.StatusOK)
	stranger := b.browser("nowhere.toodoo.test")
	wantStatus(t, stranger.get("/"), http.StatusNotFound) // asks the database: unknown
	wantStatus(t, stranger.get("/"), http.StatusNotFound) // the negative cache answers

	// /metrics is never served by the public handler, on any host.
	for _, br := range []*browser{pub, alice, bob, stranger} {
		rec := br.get("/metrics")
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "toodoo_") {
			t.Errorf("GET /metrics on %s: %d, body %.200q; want 404 without metrics", br.host, rec.Code, rec.Body.String())
		}
	}

	fams := gather(t, reg)
	const req = "toodoo_http_requests_total"
	wantValue(t, fams, req, map[string]string{"site": "tenant", "route": "/login", "method": "POST", "code": "303"}, 1)
	wantValue(t, fams, req, map[string]string{"site": "tenant", "route": "/", "method": "GET", "code": "200"}, 2)
	wantValue(t, fams, req, map[string]string{"site": "tenant", "route": "/", "method": "GET", "code": "303"}, 1)
	wantValue(t, fams, req, map[string]string{"site": "tenant", "route": "/todos/{id:[0-9]+}/edit", "method": "GET", "code": "404"}, 2)
	wantValue(t, fams, req, map[string]string{"site": "tenant", "route": "/api/v1/todos", "method": "GET", "code": "200"}, 1)
	wantValue(t, fams, req, map[string]string{"site": "public", "route": "/signup", "method": "GET", "code": "200"}, 1)
	wantValue(t, fams, req, map[string]string{"site": "none", "route": "/healthz", "code": "200"}, 1)
	// No route: a tenant's unknown page, an unknown host, and the /metrics probes above.
	wantValue(t, fams, req, map[string]string{"site": "tenant", "route": routeNone, "code": "404"}, 1+2)
	wantValue(t, fams, req, map[string]string{"site": "none", "route": routeNone, "code": "404"}, 2+1)
	wantValue(t, fams, req, map[string]string{"site": "public", "route": routeNone, "code": "404"}, 1)
	for _, s := range fams[req] {
		if strings.Contains(s.labels["route"], "987654") || strings.Contains(s.labels["route"], "no/such") {
			t.Errorf("a raw path became a route label: %v", s.labels)
		}
	}
	wantValue(t, fams, "toodoo_http_request_duration_seconds", map[string]string{"site": "tenant", "route": "/", "method": "GET"}, 3)
	wantValue(t, fams, "toodoo_http_requests_in_flight", nil, 0)

	// Host look-ups: every workspace request above was a hit of the live map, but the unknown
	// host: once from the database, once from the negative cache.
	wantValue(t, fams, "toodoo_host_lookups_total", map[string]string{"result": lookupHit}, 8+2)
	wantValue(t, fams, "toodoo_host_lookups_total", map[string]string{"result": lookupUnknown}, 1)
	wantValue(t, fams, "toodoo_host_lookups_total", map[string]string{"result": lookupNegative}, 2)
	wantValue(t, fams, "toodoo_host_map_hosts", nil, 2)
	wantValue(t, fams, "toodoo_host_map_live", nil, 1)

	wantNoTenantLabels(t, fams, b.first.Schema, b.second.Schema, firstHost, secondHost)

	// The top-N (served on the metrics address) names the tenants, by requests.
	rec := httptest.NewRecorder()
	b.srv.TenantLoadHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tenants/top?n=5", nil))
	var top struct {
		Since   time.Time    `json:"since"`
		Tenants []TenantLoad `json:"tenants"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
		t.Fatalf("top: %v: %s", err, rec.Body)
	}
	if len(top.Tenants) != 2 || top.Tenants[0].Tenant != b.first.Schema || top.Tenants[0].Requests != 8 ||
		top.Tenants[1].Tenant != b.second.Schema || top.Tenants[1].Requests != 2 || top.Tenants[0].Seconds <= 0 {
		t.Errorf("top tenants = %+v; want %s with 8 requests, then %s with 2", top.Tenants, b.first.Schema, b.second.Schema)
	}
	rec = httptest.NewRecorder()
	b.srv.TenantLoadHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/tenants/top?by=volume", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("top by=volume: %d, want 400", rec.Code)
	}
}

// TestMetricsRejections: a 429 from a budget, a 503 from the schema gate and a /readyz 503
// while draining are each counted under their label.
func TestMetricsRejections(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b := setup(t, limits(100, 1, 100), func(c *Config) { c.Metrics = reg })

	// The pair budget (1) lets one wrong password through, then refuses.
	br := b.browser(firstHost)
	wantStatus(t, br.post("/login", "email", "alice@example.com", "password", "wrong"), http.StatusUnauthorized)
	wantStatus(t, br.post("/login", "email", "alice@example.com", "password", "wrong"), http.StatusTooManyRequests)

	// A server built for another schema.hcl refuses the tenant.
	gated := b.newServerOn(b.db)
	gated.def = withTodoColumns(t, "  column \"metrics_rank\" {\n    type = integer\n    null = false\n  }\n")
	gated.metrics = b.srv.metrics // count on the registry under test
	rec := (&browser{t: t, srv: gated, host: firstHost, addr: "192.0.2.9:1"}).get("/")
	wantStatus(t, rec, http.StatusServiceUnavailable)

	// Draining: /readyz says 503.
	b.srv.draining.Store(true)
	wantStatus(t, b.browser(testBase).get("/readyz"), http.StatusServiceUnavailable)

	fams := gather(t, reg)
	wantValue(t, fams, "toodoo_rate_limit_rejections_total", map[string]string{"scope": scopePassword}, 1)
	wantValue(t, fams, "toodoo_http_requests_total", map[string]string{"route": "/login", "method": "POST", "code": "429"}, 1)
	wantValue(t, fams, "toodoo_schema_gate_rejections_total", map[string]string{"verdict": "incompatible"}, 1)
	wantValue(t, fams, "toodoo_schema_gate_rejections_total", map[string]string{"verdict": "no_ledger_row"}, 0)
	wantValue(t, fams, "toodoo_http_requests_total", map[string]string{"site": "tenant", "route": routeNone, "code": "503"}, 1)
	wantValue(t, fams, "toodoo_readiness_failures_total", map[string]string{"reason": notReadyDraining}, 1)
	wantValue(t, fams, "toodoo_readiness_failures_total", map[string]string{"reason": notReadyBusy}, 0)
	wantValue(t, fams, "toodoo_http_requests_total", map[string]string{"route": "/readyz", "code": "503"}, 1)
	wantNoTenantLabels(t, fams, b.first.Schema, b.second.Schema, firstHost, secondHost)
}

// TestTenantLoadWindow: the top-N covers the current window and the one before, and forgets
// a tenant once both have passed.
func TestTenantLoadWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := newTenantLoad(time.Minute)
	l.now = func() time.Time { return now }
	l.add("tenant_a", time.Second, false)
	l.add("tenant_b", 3*time.Second, true)
	l.add("tenant_b", time.Second, false)
	now = now.Add(70 * time.Second) // the next window: the first one still counts
	l.add("tenant_a", time.Second, false)
	l.add("tenant_a", time.Second, false)
	if top, _ := l.top(10, "requests"); len(top) != 2 || top[0].Tenant != "tenant_a" || top[0].Requests != 3 || top[1].Requests != 2 {
		t.Errorf("by requests: %+v", top)
	}
	if top, _ := l.top(1, "seconds"); len(top) != 1 || top[0].Tenant != "tenant_b" || top[0].Seconds != 4 {
		t.Errorf("by seconds: %+v", top)
	}
	if top, _ := l.top(10, "errors"); top[0].Tenant != "tenant_b" || top[0].Errors != 1 {
		t.Errorf("by errors: %+v", top)
	}
	now = now.Add(60 * time.Second) // the first window is gone
	if top, _ := l.top(10, "requests"); len(top) != 1 || top[0].Tenant != "tenant_a" || top[0].Requests != 2 {
		t.Errorf("after a window: %+v", top)
	}
	now = now.Add(5 * time.Minute)
	if top, _ := l.top(10, "requests"); len(top) != 0 {
		t.Errorf("after a quiet spell: %+v", top)
	}
}

// BenchmarkRequestMetrics is what the metrics add to each request: the counter and histogram
// of its route, and the tenant's line of the top-N.
//
//	go test ./web/ -run '^$' -bench BenchmarkRequestMetrics -count 5
func BenchmarkRequestMetrics(b *testing.B) {
	m, err := newWebMetrics(prometheus.NewRegistry(), newHostCache(nil, nil))
	if err != nil {
		b.Fatal(err)
	}
	load := newTenantLoad(time.Minute)
	ri := &reqInfo{Site: "tenant", Route: "/api/v1/todos/{id:[0-9]+}", Tenant: "acme"}
	for b.Loop() {
		m.inFlight.Inc()
		m.inFlight.Dec()
		m.observe(ri, http.MethodGet, http.StatusOK, 3*time.Millisecond)
		load.add(ri.Tenant, 3*time.Millisecond, false)
	}
}
