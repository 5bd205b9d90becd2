package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testlog"
	"github.com/toodoo/toodoo/tenancy"
)

func TestValidateSubdomain(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		in, wantSub, wantName string
		wantErr               bool
	}{
		{"acme", "acme", "acme", false},
		{" Acme ", "acme", "acme", false},
		{"acme-co", "acme-co", "acme_co", false},
		{"a1b", "a1b", "a1b", false},
		{strings.Repeat("a", 32), strings.Repeat("a", 32), strings.Repeat("a", 32), false},
		{strings.Repeat("a", 33), "", "", true},
		{"ab", "", "", true},
		{"", "", "", true},
		{"1abc", "", "", true},
		{"abc-", "", "", true},
		{"a--b", "", "", true},
		{"a_b", "", "", true},
		{"a.b.c", "", "", true},
		{"www", "", "", true},
		{"admin", "", "", true},
		{"api", "", "", true},
		{"app", "", "", true},
		{"static", "", "", true},
		{"mail", "", "", true},
		{"pg-catalog", "", "", true},
		{"toodoo-x", "", "", true},
		{"public", "", "", true},
		{"information-schema", "", "", true},
		{"ünï", "", "", true},
	} {
		sub, name, err := validateSubdomain(test.in)
		if sub != test.wantSub || name != test.wantName || (err != nil) != test.wantErr {
			t.Errorf("validateSubdomain(%q) = %q, %q, %v; want %q, %q, error %t", test.in, sub, name, err, test.wantSub, test.wantName, test.wantErr)
		}
		if err != nil {
			var te *toodoo.Error
			if !errors.As(err, &te) || te.Field != "subdomain" {
				t.Errorf("validateSubdomain(%q): error %v does not name the field", test.in, err)
			}
		}
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, test := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/tokens", "/tokens"},
		{"/?status=done", "/?status=done"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"evil", "/"},
		{"javascript:alert(1)", "/"},
	} {
		if got := safeNext(test.in); got != test.want {
			t.Errorf("safeNext(%q) = %q, want %q", test.in, got, test.want)
		}
	}
}

// TestNewConfig: New checks the configuration cmd/toodoo built and fills in none of it:
// session keys are required outside dev mode, and must be long enough; the base domain is
// required and must be a host name.
func TestNewConfig(t *testing.T) {
	t.Parallel()
	db := tenancy.New(nil)
	if _, err := New(Config{BaseDomain: "localhost"}, db, nil); err == nil || !strings.Contains(err.Error(), "no session key") {
		t.Errorf("no key: %v", err)
	}
	if _, err := New(Config{BaseDomain: "localhost", SessionKeys: [][]byte{[]byte("short")}}, db, nil); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := New(Config{Dev: true, BaseDomain: "localhost"}, db, nil); err != nil {
		t.Errorf("dev mode without key: %v", err)
	}
	if _, err := New(Config{Dev: true}, db, nil); err == nil || !strings.Contains(err.Error(), "no base domain") {
		t.Errorf("no base domain: %v", err)
	}
	if _, err := New(Config{Dev: true, BaseDomain: "http://x"}, db, nil); err == nil {
		t.Error("a URL as base domain is accepted")
	}
}

// TestTrustedProxies: X-Forwarded-* are believed from trusted proxies only.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	srv, err := New(Config{Dev: true, BaseDomain: testBase, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, tenancy.New(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		remote, xff, xfh, xfp string
		wantIP, wantHost      string
		wantScheme            string
	}{
		{"203.0.113.5:1", "1.2.3.4", "evil.example", "https", "203.0.113.5", testBase, "http"},
		{"10.1.1.1:1", "1.2.3.4", "www." + testBase, "https", "1.2.3.4", "www." + testBase, "https"},
		{"10.1.1.1:1", "6.6.6.6, 1.2.3.4, 10.2.2.2", "", "", "1.2.3.4", testBase, "http"},
		{"10.1.1.1:1", "", "", "gopher", "10.1.1.1", testBase, "http"},
	} {
		var gotIP, gotHost, gotScheme string
		h := srv.logRequest(srv.trustProxies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ri := info(r.Context())
			gotIP, gotHost, gotScheme = ri.ClientIP, r.Host, ri.Scheme
		})))
		req, _ := http.NewRequest(http.MethodGet, "http://"+testBase+"/", nil)
		req.RemoteAddr = test.remote
		for k, v := range map[string]string{"X-Forwarded-For": test.xff, "X-Forwarded-Host": test.xfh, "X-Forwarded-Proto": test.xfp} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		h.ServeHTTP(discard{}, req)
		if gotIP != test.wantIP || gotHost != test.wantHost || gotScheme != test.wantScheme {
			t.Errorf("%+v: got ip %q host %q scheme %q", test, gotIP, gotHost, gotScheme)
		}
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := newLimiter(RateLimit{Burst: 2, Every: 10 * time.Second})
	l.now = func() time.Time { return now }
	for i := range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 10*time.Second {
		t.Fatalf("third attempt: %t, wait %v", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another key is limited")
	}
	now = now.Add(5 * time.Second)
	if ok, wait := l.allow("a"); ok || wait != 5*time.Second {
		t.Fatalf("after 5s: %t, %v", ok, wait)
	}
	now = now.Add(5 * time.Second)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("not refilled after 10s")
	}
}

func TestErrorStatus(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		err  error
		want int
	}{
		{toodoo.Invalid("x", "bad"), 400},
		{toodoo.Errorf(toodoo.EUNAUTHORIZED, "x"), 401},
		{toodoo.Errorf(toodoo.EFORBIDDEN, "x"), 403},
		{toodoo.Errorf(toodoo.ESUSPENDED, "x"), 403},
		{toodoo.ErrNotFound, 404},
		{fmt.Errorf("wrapped: %w", toodoo.ErrNotFound), 404},
		{toodoo.Errorf(toodoo.ECONFLICT, "x"), 409},
		{errMethodNotAllowed, 405},
		{errTooLarge, 413},
		{&http.MaxBytesError{Limit: 1}, 413},
		{errNotJSON, 415},
		{tooManyAttempts(time.Second), 429},
		{errors.New("boom"), 500},
	} {
		if got := errorStatus(test.err); got != test.want {
			t.Errorf("errorStatus(%v) = %d, want %d", test.err, got, test.want)
		}
	}
	if msg := errorMessage(errors.New("password=hunter2 connection refused")); strings.Contains(msg, "hunter2") {
		t.Errorf("an internal error's detail is shown: %q", msg)
	}
}

// TestTemplatesFitCSP: the Content-Security-Policy allows no inline styles or scripts and no
// external assets, so the templates must have none.
func TestTemplatesFitCSP(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil || len(names) == 0 {
		t.Fatalf("templates: %v, %v", names, err)
	}
	for _, name := range names {
		b, err := assets.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// Our one script, from our own origin (script-src 'self'); no inline script.
		b = bytes.ReplaceAll(b, []byte(`<script src="{{static "app.js"}}" defer></script>`), nil)
		for _, bad := range []string{`style="`, "<style", "<script", "http://", "https://", " on"} {
			if bad == " on" {
				for _, ev := range []string{" onclick=", " onsubmit=", " onload="} {
					if strings.Contains(string(b), ev) {
						t.Errorf("%s has an inline event handler %q", name, ev)
					}
				}
				continue
			}
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

// TestRequestLog: one line per request with request id, tenant, user, status and duration.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var buf testlog.Buffer
	srv, err := New(Config{BaseDomain: testBase, SessionKeys: [][]byte{testKey}}, b.db, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.accounts.Params = cheap
	br := &browser{t: t, srv: srv, host: firstHost, addr: "192.0.2.99:1"}
	br.login(b.alice.Email)
	buf.Reset()
	wantStatus(t, br.get("/"), http.StatusOK)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for one request:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "request" || rec["request_id"] == "" || rec["tenant"] != "first" || rec["user_id"] != float64(b.alice.ID) ||
		rec["status"] != float64(200) || rec["duration"] == nil || rec["path"] != "/" {
		t.Fatalf("log line %v", rec)
	}
	if strings.Contains(buf.String(), testPassword) {
		t.Fatal("the password is logged")
	}
}

// TestAccountLimitOneBudget: the login form and the password page spend one budget for an
// account from an address, also for an e-mail whose letters ASCII folding does not reach.
func TestAccountLimitOneBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.LoginLimits.Pair = account.Limit{Burst: 2, Every: time.Hour} })
	u, err := b.accounts.CreateUser(t.Context(), "Ärger@example.com", testPassword, false)
	if err != nil {
		t.Fatal(err)
	}
	b.member(b.first, u, account.RoleMember)
	here := b.browser(firstHost)
	here.login(u.Email)
	there := b.browser(firstHost)
	there.addr = here.addr // another browser at the same address

	// One failure on the login form, typed in lower case, and one on the password page.
	wantStatus(t, there.post("/login", "email", "ärger@example.com", "password", "wrong password"), http.StatusUnauthorized)
	wantStatus(t, here.post("/password", "current_password", "wrong password", "new_password", "new password 1", "confirm_password", "new password 1"), http.StatusBadRequest)

	// The budget of two is spent for both.
	wantStatus(t, there.post("/login", "email", u.Email, "password", testPassword), http.StatusTooManyRequests)
	wantStatus(t, here.post("/password", "current_password", testPassword, "new_password", "new password 1", "confirm_password", "new password 1"), http.StatusTooManyRequests)
	// Another account is not affected.
	other := b.browser(firstHost)
	other.addr = here.addr
	other.login(b.alice.Email)
}

// TestServeWaitsForBackground: Serve returns only once its background work (WatchHosts,
// keepSpares) has ended, so that the caller may close the database. keepSpares is held in the
// logger while Serve shuts down; Serve must wait for it, and then nothing it started may be
// left running.
//
// Not parallel: it reads every goroutine's stack, and parallel tests run servers of their own.
func TestServeWaitsForBackground(t *testing.T) {
	pooled, direct := dbtest.URLs(t)
	db, err := tenancy.Open(t.Context(), pooled)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	hold := &holdHandler{message: "spare schemas: refilled", held: make(chan struct{}), release: make(chan struct{})}
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(hold.release) }) })
	srv, err := New(Config{BaseDomain: testBase, DirectDatabaseURL: direct, SessionKeys: [][]byte{testKey}, SpareSchemas: 1}, db, slog.New(hold))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	for what, ch := range map[string]<-chan struct{}{"keepSpares to refill": hold.held, "WatchHosts to load the hosts": srv.hosts.ready} {
		select {
		case <-ch:
		case <-time.After(60 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}

	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while keepSpares was still running", err)
	case <-time.After(200 * time.Millisecond):
	}
	release.Do(func() { close(hold.release) })
	waitServe(t, done)
	buf := make([]byte, 1<<20)
	stacks := buf[:runtime.Stack(buf, true)]
	for _, fn := range []string{"web.(*Server).keepSpares", "web.(*Server).WatchHosts", "tenancy.(*Listener).Run"} {
		if bytes.Contains(stacks, []byte(fn)) {
			t.Errorf("%s still runs after Serve returned:\n%s", fn, stacks)
		}
	}
}

// holdHandler is a slog.Handler that holds the goroutine logging message until release is
// closed (and closes held when it does so first); other records are dropped.
type holdHandler struct {
	message       string
	held, release chan struct{}
	once          sync.Once
}

func (h *holdHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *holdHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.message {
		h.once.Do(func() { close(h.held) })
		<-h.release
	}
	return nil
}

func (h *holdHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *holdHandler) WithGroup(string) slog.Handler      { return h }

// TestRouteID: one parser for every route id; an id that names no row is not found, and so is
// every id of zero (the tokens page once passed it on) on every page that takes one.
func TestRouteID(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		in   string
		want int64
	}{{"1", 1}, {"9223372036854775807", 9223372036854775807}, {"0", 0}, {"-1", 0}, {"", 0}, {"x", 0}, {"9223372036854775808", 0}} {
		r := mux.SetURLVars(httptest.NewRequest(http.MethodPost, "/", nil), map[string]string{"id": test.in})
		id, err := routeID(r, "id")
		if id != test.want || (test.want == 0) != (toodoo.ErrorCode(err) == toodoo.ENOTFOUND) {
			t.Errorf("routeID(%q) = %d, %v; want %d", test.in, id, err, test.want)
		}
	}

	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	for _, path := range []string{"/tokens/0/revoke", "/members/0/remove", "/members/0/role", "/todos/0/done", "/todos/0/delete", "/todos/99999999999999999999/delete"} {
		if rec := br.post(path); rec.Code != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, rec.Code)
		}
	}
}

// TestClientGone: a request whose client went away (its context cancelled, the database call
// failing with that) is answered 499 and logged at Debug, not as a 500 at Error; an error that
// only looks like it (a deadline of the server's own, the request still live) stays a 5xx.
func TestClientGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var buf testlog.Buffer
	srv, err := New(Config{BaseDomain: testBase, SessionKeys: [][]byte{testKey}}, b.db, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	cancelled := fmt.Errorf("tenancy: begin (first): tenancy: acquire: %w", context.Canceled)
	for _, c := range []struct {
		name   string
		ctx    context.Context
		err    error
		status int
		level  string
	}{
		{"client gone", gone, cancelled, statusClientClosedRequest, "DEBUG"},
		{"client gone, the API", gone, cancelled, statusClientClosedRequest, "DEBUG"},
		{"the server's own deadline, client still there", context.Background(), fmt.Errorf("query: %w", context.DeadlineExceeded), http.StatusInternalServerError, "ERROR"},
		{"cancelled context, another failure", gone, errors.New("connection reset"), http.StatusInternalServerError, "ERROR"},
	} {
		buf.Reset()
		path := "/"
		if strings.Contains(c.name, "API") {
			path = "/api/v1/todos"
		}
		r := httptest.NewRequest(http.MethodGet, "http://"+firstHost+path, nil).WithContext(c.ctx)
		w := httptest.NewRecorder()
		srv.writeError(w, r, c.err)
		if w.Code != c.status || !strings.Contains(buf.String(), `"level":"`+c.level+`"`) {
			t.Errorf("%s: status %d, log %s; want %d at %s", c.name, w.Code, buf.String(), c.status, c.level)
		}
	}
}
