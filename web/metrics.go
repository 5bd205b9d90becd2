package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/toodoo/toodoo/account"
)

// The server's instruments (Prometheus). They are registered on Config.Metrics, which the
// process serves on an address of its own (package metrics), never on this handler.
//
// No label names a tenant: with ten thousand tenants each family would become ten thousand
// series. Requests are labelled by the route's pattern (/todos/{id:[0-9]+}), never by the raw
// path, so ids and unknown paths cannot grow the series either; the other label values are
// fixed sets. Which tenant is the noisiest is answered by tenantLoad (a top-N of the last
// minute or two, TenantLoadHandler) and by the tenant field of every request's log line.

// Route labels of requests that matched no route: routeNone for those answered before routing
// or by a router's 404/405 (unknown host, suspended tenant, schema gate, cross-origin POST, body
// too large, no such page). The health checks are labelled with their paths.
const routeNone = "(none)"

// webMetrics are the server's instruments.
type webMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	hostLookups *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	gated       *prometheus.CounterVec
	readiness   *prometheus.CounterVec
}

// Results of a host look-up (toodoo_host_lookups_total).
const (
	lookupHit       = "hit"       // answered by the live host map
	lookupNegative  = "negative"  // answered "unknown" by the negative cache
	lookupThrottled = "throttled" // unknown to the live map, and the budget of database look-ups was spent
	lookupFound     = "db_found"  // asked the database (missing from the map, or the map not trusted): found
	lookupUnknown   = "db_unknown"
	lookupError     = "db_error"
)

// Reasons /readyz answered 503 (toodoo_readiness_failures_total).
const (
	notReadyDraining    = "draining"
	notReadyBusy        = "busy"
	notReadyUnreachable = "unreachable"
)

// Scopes of the attempt budgets (toodoo_rate_limit_rejections_total): "password" for a password
// check refused by any of its three budgets (reserveLogin), else the client scope given to
// limitClient.
const scopePassword = "password"

// newWebMetrics builds the instruments and registers them, with the host map's gauges, on reg
// (nil: they count, and nobody reads them).
func newWebMetrics(reg prometheus.Registerer, hosts *hostCache) (*webMetrics, error) {
	m := &webMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toodoo_http_requests_total",
			Help: "HTTP requests answered, by site (public, tenant, none), route pattern, method and status code.",
		}, []string{"site", "route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "toodoo_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by site, route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"site", "route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "toodoo_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		hostLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toodoo_host_lookups_total",
			Help: "Host names resolved to tenants, by result: hit (the in-memory host map), negative (the negative cache), throttled (unknown to the map, database budget spent), db_found, db_unknown, db_error (asked the database).",
		}, []string{"result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toodoo_rate_limit_rejections_total",
			Help: "Attempts refused with 429 by a budget, by scope: password (a password check), login (one-time links), reset, signup.",
		}, []string{"scope"}),
		gated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toodoo_schema_gate_rejections_total",
			Help: "Workspace requests answered 503 because the tenant's schema does not match the code, by verdict: incompatible, no_ledger_row.",
		}, []string{"verdict"}),
		readiness: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toodoo_readiness_failures_total",
			Help: "Readiness checks (/readyz) answered 503, by reason: draining (shutting down), busy (no pool connection within the acquire timeout), unreachable (the database).",
		}, []string{"reason"}),
	}
	// Every value of the small label sets has a series from the start, so that rate() and
	// alerts see the first event.
	for _, r := range []string{lookupHit, lookupNegative, lookupThrottled, lookupFound, lookupUnknown, lookupError} {
		m.hostLookups.WithLabelValues(r)
	}
	for _, scope := range []string{scopePassword, account.LoginClientScope, "reset", "signup"} {
		m.rateLimited.WithLabelValues(scope)
	}
	for _, v := range []string{"incompatible", "no_ledger_row"} {
		m.gated.WithLabelValues(v)
	}
	for _, r := range []string{notReadyDraining, notReadyBusy, notReadyUnreachable} {
		m.readiness.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	hostsGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "toodoo_host_map_hosts",
		Help: "Host names in this process's in-memory host map.",
	}, func() float64 { n, _ := hosts.size(); return float64(n) })
	liveGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "toodoo_host_map_live",
		Help: "1 while the host map is trusted; 0 while every host is resolved through the database (start-up, LISTEN lost, reconcile failed).",
	}, func() float64 {
		if _, live := hosts.size(); live {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.hostLookups, m.rateLimited, m.gated, m.readiness, hostsGauge, liveGauge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	return m, nil
}

// observe counts one answered request.
func (m *webMetrics) observe(ri *reqInfo, method string, status int, d time.Duration) {
	site, route := cmp.Or(ri.Site, "none"), cmp.Or(ri.Route, routeNone)
	method = methodLabel(method)
	m.requests.WithLabelValues(site, route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(site, route, method).Observe(d.Seconds())
}

// methodLabel keeps the method label a fixed set: anything else is "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// gateVerdict is the label of a schemaServes verdict that refuses.
func gateVerdict(why string) string {
	if why == schemaUnknown {
		return "no_ledger_row"
	}
	return "incompatible"
}

// recordRoute is the routers' middleware that labels the request with its route's pattern; it
// runs only when a route matched.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if tpl, err := route.GetPathTemplate(); err == nil {
				info(r.Context()).Route = tpl
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tenantLoad counts each tenant's requests, failures (5xx) and time over a sliding window of
// one to two minutes (the current minute and the one before), for the top-N that tells an
// operator which tenant is the noisiest, which no metric can (it has no tenant label). Its
// memory is bounded by the number of tenants: only requests whose host resolved to a tenant
// are counted.
type tenantLoad struct {
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	start     time.Time // of the current window
	cur, prev map[string]*TenantLoad
}

// TenantLoad is one tenant's load over the window TenantLoadHandler reports.
type TenantLoad struct {
	Tenant   string  `json:"tenant"` // the schema name
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`  // answered 5xx
	Seconds  float64 `json:"seconds"` // time spent answering them
}

func newTenantLoad(window time.Duration) *tenantLoad {
	return &tenantLoad{window: window, now: time.Now, cur: map[string]*TenantLoad{}, prev: map[string]*TenantLoad{}}
}

// rotate moves to the window that holds now: the current window becomes the previous one, or
// both are emptied after a quiet spell longer than a window.
func (l *tenantLoad) rotate(now time.Time) {
	switch {
	case l.start.IsZero():
		l.start = now
	case now.Sub(l.start) >= 2*l.window:
		l.prev, l.cur, l.start = map[string]*TenantLoad{}, map[string]*TenantLoad{}, now
	case now.Sub(l.start) >= l.window:
		l.prev, l.cur, l.start = l.cur, map[string]*TenantLoad{}, l.start.Add(l.window)
	}
}

// add counts one request of tenant.
func (l *tenantLoad) add(tenant string, d time.Duration, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rotate(l.now())
	c := l.cur[tenant]
	if c == nil {
		c = &TenantLoad{Tenant: tenant}
		l.cur[tenant] = c
	}
	c.Requests++
	c.Seconds += d.Seconds()
	if failed {
		c.Errors++
	}
}

// top returns the n tenants with the most of by ("requests", "seconds" or "errors") over the
// window, and when the window began.
func (l *tenantLoad) top(n int, by string) ([]TenantLoad, time.Time) {
	l.mu.Lock()
	l.rotate(l.now())
	since := l.start.Add(-l.window)
	sum := make(map[string]TenantLoad, len(l.cur)+len(l.prev))
	for _, m := range []map[string]*TenantLoad{l.prev, l.cur} {
		for k, c := range m {
			s := sum[k]
			s.Tenant = k
			s.Requests += c.Requests
			s.Errors += c.Errors
			s.Seconds += c.Seconds
			sum[k] = s
		}
	}
	l.mu.Unlock()
	out := make([]TenantLoad, 0, len(sum))
	for _, s := range sum {
		out = append(out, s)
	}
	key := func(t TenantLoad) float64 {
		switch by {
		case "seconds":
			return t.Seconds
		case "errors":
			return float64(t.Errors)
		}
		return float64(t.Requests)
	}
	slices.SortFunc(out, func(a, b TenantLoad) int {
		return cmp.Or(cmp.Compare(key(b), key(a)), cmp.Compare(a.Tenant, b.Tenant))
	})
	return out[:min(n, len(out))], since
}

// TenantLoadHandler answers GET with the noisiest tenants of the last one to two minutes, as
// JSON: ?by=requests (default), seconds or errors; ?n= how many (default 10, at most 1000). It
// names tenants, so it belongs on the metrics address, never on the public one.
func (s *Server) TenantLoadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by := cmp.Or(r.URL.Query().Get("by"), "requests")
		if by != "requests" && by != "seconds" && by != "errors" {
			http.Error(w, "by: use requests, seconds or errors", http.StatusBadRequest)
			return
		}
		n := 10
		if v := r.URL.Query().Get("n"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
				http.Error(w, "n: use a number from 1 to 1000", http.StatusBadRequest)
				return
			}
		}
		top, since := s.load.top(n, by)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(struct {
			Since   time.Time    `json:"since"`
			By      string       `json:"by"`
			Tenants []TenantLoad `json:"tenants"`
		}{since.UTC(), by, top})
	})
}
