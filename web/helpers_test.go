package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The test platform: the public site is toodoo.test, workspaces first.toodoo.test and
// second.toodoo.test.
const (
	testBase     = "toodoo.test"
	firstHost    = "first.toodoo.test"
	secondHost   = "second.toodoo.test"
	testPassword = "correct horse battery"
)

// cheap are argon2id costs that make tests fast; the hashes are still real argon2id.
var cheap = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

var testKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// bundle is what most tests need: a database with two workspaces, people, and a server.
type bundle struct {
	t             testing.TB
	db            *tenancy.DB
	pooled        string // the database URL the pool uses (through PgBouncer with TEST_PGBOUNCER=1)
	direct        string // the direct database URL, for LISTEN
	accounts      *account.Service
	srv           *Server
	first, second tenancy.Tenant

	// People: alice owns first, dave is a member of first, bob owns second, root is a
	// superuser without memberships, carol has an account and no membership.
	alice, dave, bob, root, carol account.User
}

// setup builds a bundle. mod, if given, changes the server's config.
func setup(t testing.TB, mod ...func(*Config)) *bundle {
	t.Helper()
	ctx := t.Context()
	pooled, direct := dbtest.URLs(t)
	db := testfactory.DB(ctx, t, pooled)
	b := &bundle{t: t, db: db, pooled: pooled, direct: direct, accounts: account.New(db)}
	b.accounts.Params = cheap
	b.first = testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first", DisplayName: "First Team", Domain: firstHost})
	b.second = testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second", DisplayName: "Second Team", Domain: secondHost})
	for _, u := range []struct {
		u     *account.User
		email string
		super bool
	}{{&b.alice, "alice@example.com", false}, {&b.dave, "dave@example.com", false}, {&b.bob, "bob@example.com", false}, {&b.root, "root@example.com", true}, {&b.carol, "carol@example.com", false}} {
		*u.u = testfactory.User(ctx, t, b.accounts, &testfactory.UserOpts{Email: u.email, Password: testPassword, Superuser: u.super})
	}
	b.member(b.first, b.alice, account.RoleOwner)
	b.member(b.first, b.dave, account.RoleMember)
	b.member(b.second, b.bob, account.RoleOwner)
	b.srv = b.newServer(mod...)
	return b
}

// member gives u the role in t.
func (b *bundle) member(t tenancy.Tenant, u account.User, role string) {
	b.t.Helper()
	testfactory.Member(b.t.Context(), b.t, b.accounts, t, u, &testfactory.MemberOpts{Role: role})
}

// newServer starts a server on the bundle's database with its host listener running; it
// returns once the listener has loaded the host map.
func (b *bundle) newServer(mod ...func(*Config)) *Server {
	b.t.Helper()
	return b.newServerOn(b.db, mod...)
}

// newServerOn is newServer on another handle (pool) on the bundle's database.
func (b *bundle) newServerOn(db *tenancy.DB, mod ...func(*Config)) *Server {
	t := b.t
	t.Helper()
	cfg := Config{BaseDomain: testBase, DirectDatabaseURL: b.direct, SessionKeys: [][]byte{testKey}}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := New(cfg, db, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	srv.accounts.Params = cheap
	if cfg.DirectDatabaseURL != "" {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.WatchHosts(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case <-srv.hosts.ready:
		case <-time.After(30 * time.Second):
			t.Fatal("the host listener did not load the host map")
		}
	}
	return srv
}

// testWriter sends logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var clientSeq atomic.Int64

// browser is a visitor of one host with its own cookie and client address.
type browser struct {
	t      testing.TB
	srv    *Server
	host   string
	cookie *http.Cookie
	addr   string // RemoteAddr
}

func (b *bundle) browser(host string) *browser {
	return &browser{t: b.t, srv: b.srv, host: host, addr: "192.0.2." + itoa(1+clientSeq.Add(1)%250) + ":1234"}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// do sends a request like a browser on the same site would: with its cookie and, for
// non-GET requests, Sec-Fetch-Site: same-origin.
func (br *browser) do(method, path string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	br.t.Helper()
	var sent []byte // the body, kept for checkAPIExchange
	if body != nil {
		var err error
		if sent, err = io.ReadAll(body); err != nil {
			br.t.Fatalf("read the request body: %v", err)
		}
		body = bytes.NewReader(sent)
	}
	req := httptest.NewRequest(method, "http://"+br.host+path, body)
	req.Host = br.host
	req.RemoteAddr = br.addr
	for k, v := range header {
		req.Header[k] = v
	}
	if br.cookie != nil {
		req.AddCookie(br.cookie)
	}
	check := req.Clone(req.Context())
	rec := httptest.NewRecorder()
	br.srv.Handler().ServeHTTP(rec, req)
	checkAPIExchange(br.t, check, sent, rec)
	for _, c := range rec.Result().Cookies() {
		if c.Name != br.srv.sessionCookieName() {
			continue
		}
		if c.MaxAge < 0 {
			br.cookie = nil
		} else {
			br.cookie = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	return rec
}

func (br *browser) get(path string) *httptest.ResponseRecorder {
	br.t.Helper()
	return br.do(http.MethodGet, path, nil, nil)
}

// post submits a form; kv are name, value pairs.
func (br *browser) post(path string, kv ...string) *httptest.ResponseRecorder {
	br.t.Helper()
	return br.do(http.MethodPost, path, strings.NewReader(formBody(kv...)), http.Header{
		"Content-Type":   {"application/x-www-form-urlencoded"},
		"Sec-Fetch-Site": {"same-origin"},
	})
}

// api sends a JSON request (body may be nil) with an optional bearer token.
func (br *browser) api(method, path, body, token string) *httptest.ResponseRecorder {
	br.t.Helper()
	h := http.Header{}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
		h.Set("Content-Type", "application/json")
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return br.do(method, path, r, h)
}

func formBody(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

// login signs in and fails the test unless it worked.
func (br *browser) login(email string) {
	br.t.Helper()
	rec := br.post("/login", "email", email, "password", testPassword)
	if rec.Code != http.StatusSeeOther || br.cookie == nil {
		br.t.Fatalf("login %s on %s: status %d, cookie %v\n%s", email, br.host, rec.Code, br.cookie, rec.Body)
	}
}

// wantStatus fails the test unless rec has the status.
// waitServe waits for the error of a Serve whose context has ended, and fails the test if it is
// not nil or does not come within 20 s.
func waitServe(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body:\n%.2000s", rec.Code, want, rec.Body.String())
	}
}

// wantRedirect fails the test unless rec redirects (303) to a location starting with prefix.
func wantRedirect(t *testing.T, rec *httptest.ResponseRecorder, prefix string) {
	t.Helper()
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), prefix) {
		t.Fatalf("got %d to %q, want 303 to %q...; body:\n%.1000s", rec.Code, rec.Header().Get("Location"), prefix, rec.Body.String())
	}
}

// problemOf decodes a problem+json response.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body: %s", ct, rec.Body)
	}
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem: %v: %s", err, rec.Body)
	}
	return p
}

// eventually polls cond until it holds or the deadline passes. The deadline is generous
// (machines under load); it bounds the test, it does not measure anything.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- a tiny HTML query helper (pkgsite's htmlcheck, reduced) ---

// parseHTML parses a response body.
func parseHTML(t *testing.T, rec *httptest.ResponseRecorder) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// findAll returns the elements under n for which match holds, in document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// byClass matches elements with tag and class (either may be empty).
func byClass(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if tag != "" && n.Data != tag {
			return false
		}
		if class == "" {
			return true
		}
		for _, c := range strings.Fields(attr(n, "class")) {
			if c == class {
				return true
			}
		}
		return false
	}
}

// byID matches the element with the id.
func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// text returns the text content of n.
func text(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(sb.String())
}

// texts returns the text of every element matching.
func texts(doc *html.Node, match func(*html.Node) bool) []string {
	var out []string
	for _, n := range findAll(doc, match) {
		out = append(out, text(n))
	}
	return out
}

// todoTitles returns the titles on a to-do list page.
func todoTitles(t *testing.T, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	return texts(parseHTML(t, rec), byClass("span", "title"))
}

type httptestRecorder = httptest.ResponseRecorder
