package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

// TestSeedScenario is the issue's first sentence: a to-do added on first is not on second,
// through the pages and through the API.
func TestSeedScenario(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.member(b.second, b.alice, account.RoleMember) // alice may enter both

	first := b.browser(firstHost)
	first.login(b.alice.Email)
	wantRedirect(t, first.post("/todos", "title", "Buy milk on first"), "/")
	if got := todoTitles(t, first.get("/")); !slices.Contains(got, "Buy milk on first") {
		t.Fatalf("first's page lists %q, want it to contain the new to-do", got)
	}

	second := b.browser(secondHost)
	second.login(b.alice.Email)
	rec := second.get("/")
	wantStatus(t, rec, http.StatusOK)
	if got := todoTitles(t, rec); slices.Contains(got, "Buy milk on first") {
		t.Fatalf("second's page lists first's to-do: %q", got)
	}

	// The API, with the session cookie.
	var list apiTodoList
	rec = first.api(http.MethodGet, "/api/v1/todos", "", "")
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec.Body.Bytes(), &list)
	if len(list.Todos) != 1 || list.Todos[0].Title != "Buy milk on first" {
		t.Fatalf("first's API lists %+v", list.Todos)
	}
	id := list.Todos[0].ID
	rec = second.api(http.MethodGet, "/api/v1/todos", "", "")
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec.Body.Bytes(), &list)
	if len(list.Todos) != 0 {
		t.Fatalf("second's API lists %+v, want nothing", list.Todos)
	}
	// first's id on second is simply not found (and cannot be changed or deleted there).
	for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
		body := ""
		if method == http.MethodPatch {
			body = `{"done": true}`
		}
		rec := second.api(method, fmt.Sprintf("/api/v1/todos/%d", id), body, "")
		wantStatus(t, rec, http.StatusNotFound)
		problemOf(t, rec)
	}
	rec = first.api(http.MethodGet, fmt.Sprintf("/api/v1/todos/%d", id), "", "")
	wantStatus(t, rec, http.StatusOK)
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

// TestRouteAccess runs every route as an anonymous visitor, a member, an owner, a non-member
// (someone whose membership ended after they signed in) and a superuser without membership.
func TestRouteAccess(t *testing.T) {
	t.Parallel()
	const (
		anon = iota
		nonMember
		member
		owner
		super
	)
	roles := []string{"anonymous", "non-member", "member", "owner", "superuser"}

	type route struct {
		host, method, path string
		form               []string // form fields, for POST
		json               string   // JSON body, for the API
		want               [5]int   // by role
	}
	const (
		ok    = http.StatusOK
		see   = http.StatusSeeOther
		unau  = http.StatusUnauthorized
		forb  = http.StatusForbidden
		nf    = http.StatusNotFound
		made  = http.StatusCreated
		empty = http.StatusNoContent
	)
	// {id} is a to-do made for each role; {uid} is erin, who exists and is a member of first.
	routes := []route{
		{firstHost, "GET", "/", nil, "", [5]int{see, forb, ok, ok, ok}},
		{firstHost, "GET", "/?status=done", nil, "", [5]int{see, forb, ok, ok, ok}},
		{firstHost, "POST", "/todos", []string{"title", "x"}, "", [5]int{see, forb, see, see, see}},
		{firstHost, "GET", "/todos/{id}/edit", nil, "", [5]int{see, forb, ok, ok, ok}},
		{firstHost, "POST", "/todos/{id}", []string{"title", "renamed"}, "", [5]int{see, forb, see, see, see}},
		{firstHost, "POST", "/todos/{id}/done", []string{"done", "true"}, "", [5]int{see, forb, see, see, see}},
		{firstHost, "GET", "/tokens", nil, "", [5]int{see, forb, ok, ok, ok}},
		{firstHost, "POST", "/tokens", []string{"name", "script"}, "", [5]int{see, forb, see, see, see}},
		{firstHost, "POST", "/tokens/999999/revoke", nil, "", [5]int{see, forb, nf, nf, nf}},
		{firstHost, "GET", "/members", nil, "", [5]int{see, forb, forb, ok, ok}},
		{firstHost, "POST", "/members/{uid}/role", []string{"role", "owner"}, "", [5]int{see, forb, forb, see, see}},
		{firstHost, "POST", "/members", []string{"email", "frank@example.com", "role", "member"}, "", [5]int{see, forb, forb, see, see}},
		{firstHost, "POST", "/members/{uid}/remove", []string{"confirm", "yes"}, "", [5]int{see, forb, forb, see, see}},
		{firstHost, "GET", "/api/v1/todos", nil, "", [5]int{unau, forb, ok, ok, ok}},
		{firstHost, "POST", "/api/v1/todos", nil, `{"title": "via API"}`, [5]int{unau, forb, made, made, made}},
		{firstHost, "GET", "/api/v1/todos/{id}", nil, "", [5]int{unau, forb, ok, ok, ok}},
		{firstHost, "PATCH", "/api/v1/todos/{id}", nil, `{"done": true}`, [5]int{unau, forb, ok, ok, ok}},
		{firstHost, "POST", "/todos/{id}/delete", nil, "", [5]int{see, forb, see, see, see}},
		{firstHost, "DELETE", "/api/v1/todos/{id2}", nil, "", [5]int{unau, forb, empty, empty, empty}},
		{firstHost, "GET", "/login", nil, "", [5]int{ok, ok, see, see, see}},
		{testBase, "GET", "/", nil, "", [5]int{ok, ok, ok, ok, ok}},
		{testBase, "GET", "/signup", nil, "", [5]int{ok, ok, ok, ok, ok}},
		{testBase, "GET", "/admin", nil, "", [5]int{see, forb, forb, forb, ok}},
		{testBase, "POST", "/admin/tenants/second/suspend", nil, "", [5]int{see, forb, forb, forb, see}},
		{testBase, "POST", "/admin/tenants/second/resume", nil, "", [5]int{see, forb, forb, forb, see}},
		{testBase, "GET", "/admin/tenants/second/export", nil, "", [5]int{see, forb, forb, forb, ok}},
	}
	for role, name := range roles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := t.Context()
			erin := testfactory.User(ctx, t, b.accounts, &testfactory.UserOpts{Email: "erin@example.com", Password: testPassword})
			b.member(b.first, erin, account.RoleMember)
			testfactory.User(ctx, t, b.accounts, &testfactory.UserOpts{Email: "frank@example.com", Password: testPassword})
			browsers := map[string]*browser{firstHost: b.browser(firstHost), testBase: b.browser(testBase)}
			switch role {
			case nonMember:
				b.member(b.first, b.carol, account.RoleMember)
				browsers[firstHost].login(b.carol.Email)
				browsers[testBase].login(b.carol.Email)
				// RemoveMember would end carol's sessions here too (TestRemovedMemberTokensRevoked);
				// deleting the membership row alone leaves a signed-in non-member, to check the
				// boundary behind that.
				if _, err := b.db.Pool().Exec(ctx, "DELETE FROM public.memberships WHERE user_id = $1 AND tenant_id = $2", b.carol.ID, b.first.ID); err != nil {
					t.Fatal(err)
				}
			case member:
				browsers[firstHost].login(b.dave.Email)
				browsers[testBase].login(b.dave.Email)
			case owner:
				browsers[firstHost].login(b.alice.Email)
				browsers[testBase].login(b.alice.Email)
			case super:
				browsers[firstHost].login(b.root.Email)
				browsers[testBase].login(b.root.Email)
			}
			ids := b.makeTodos(t, b.first, 2)
			for _, rt := range routes {
				path := strings.NewReplacer("{id}", fmt.Sprint(ids[0]), "{id2}", fmt.Sprint(ids[1]), "{uid}", fmt.Sprint(erin.ID)).Replace(rt.path)
				br := browsers[rt.host]
				var rec = func() (rec *httptestRecorder) {
					switch {
					case strings.HasPrefix(path, "/api/"):
						return br.api(rt.method, path, rt.json, "")
					case rt.method == http.MethodPost:
						return br.post(path, rt.form...)
					default:
						return br.do(rt.method, path, nil, nil)
					}
				}()
				if got, want := rec.Code, rt.want[role]; got != want {
					t.Errorf("%s %s%s as %s: status %d, want %d\n%.500s", rt.method, rt.host, path, name, got, want, rec.Body)
				}
				if rec.Code == http.StatusSeeOther && role == anon && !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
					t.Errorf("%s %s%s as anonymous: redirected to %q, want /login", rt.method, rt.host, path, rec.Header().Get("Location"))
				}
			}
		})
	}
}

// makeTodos adds n to-dos to t directly and returns their ids.
func (b *bundle) makeTodos(t *testing.T, tn tenancy.Tenant, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		ids[i] = testfactory.Todo(t.Context(), t, b.db, tn, &testfactory.TodoOpts{CreatedBy: b.alice.ID, Title: fmt.Sprintf("to-do %d", i)}).ID
	}
	return ids
}

// TestCookieReplay: a session cookie is bound to the host (tenant) it was issued on. A
// superuser's cookie from first, who may enter second, still does not authenticate there.
func TestCookieReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.browser(firstHost)
	first.login(b.root.Email)
	wantStatus(t, first.get("/"), http.StatusOK)

	for _, host := range []string{secondHost, testBase} {
		thief := b.browser(host)
		thief.cookie = first.cookie
		if host == testBase {
			wantRedirect(t, thief.get("/admin"), "/login")
			continue
		}
		wantRedirect(t, thief.get("/"), "/login")
		rec := thief.api(http.MethodGet, "/api/v1/todos", "", "")
		wantStatus(t, rec, http.StatusUnauthorized)
	}
	// And the other way: a cookie from the public site does not open a workspace.
	pub := b.browser(testBase)
	pub.login(b.root.Email)
	thief := b.browser(firstHost)
	thief.cookie = pub.cookie
	wantRedirect(t, thief.get("/"), "/login")
}

// TestTamperedCookie: a changed byte, or a cookie signed with another key, is no session.
func TestTamperedCookie(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	good := br.cookie.Value

	for name, value := range map[string]string{
		"flipped":   good[:len(good)/2] + flip(good[len(good)/2]) + good[len(good)/2+1:],
		"truncated": good[:len(good)-4],
		"garbage":   "not-a-cookie",
	} {
		br.cookie = &http.Cookie{Name: br.cookie.Name, Value: value}
		wantRedirect(t, br.get("/"), "/login")
		_ = name
	}

	// A server with another key refuses the cookie; one that lists the old key second (a
	// rotation) accepts it.
	other := b.newServer(func(c *Config) { c.SessionKeys = [][]byte{[]byte(strings.Repeat("k", 40))} })
	rotated := b.newServer(func(c *Config) { c.SessionKeys = [][]byte{[]byte(strings.Repeat("n", 40)), testKey} })
	for _, tc := range []struct {
		srv  *Server
		want int
	}{{other, http.StatusSeeOther}, {rotated, http.StatusOK}} {
		v := &browser{t: t, srv: tc.srv, host: firstHost, addr: "192.0.2.9:1", cookie: &http.Cookie{Name: "toodoo", Value: good}}
		wantStatus(t, v.get("/"), tc.want)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestPasswordChangeEndsSessions: a new password (here through the account service, as the CLI
// and a reset set it) ends every session of the user.
func TestPasswordChangeEndsSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	one, two := b.browser(firstHost), b.browser(firstHost)
	one.login(b.alice.Email)
	two.login(b.alice.Email)
	if one.cookie.Value == two.cookie.Value {
		t.Fatal("two logins gave the same cookie")
	}
	if _, err := b.accounts.SetPassword(t.Context(), b.alice.ID, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, one.get("/"), "/login")
	wantRedirect(t, two.get("/"), "/login")
}

// TestLogin covers the login form: wrong password and non-member get the same answer; logout
// ends the session; next is kept but only as a local path.
func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	msg := func(rec *httptestRecorder) string {
		return strings.Join(texts(parseHTML(t, rec), byClass("", "form-error")), "|")
	}
	br := b.browser(firstHost)
	wrong := br.post("/login", "email", b.alice.Email, "password", "nope nope nope")
	wantStatus(t, wrong, http.StatusUnauthorized)
	stranger := br.post("/login", "email", b.bob.Email, "password", testPassword) // bob is not a member of first
	wantStatus(t, stranger, http.StatusUnauthorized)
	unknown := br.post("/login", "email", "nobody@example.com", "password", testPassword)
	wantStatus(t, unknown, http.StatusUnauthorized)
	if msg(wrong) != msg(stranger) || msg(wrong) != msg(unknown) || msg(wrong) == "" {
		t.Fatalf("messages differ: wrong password %q, non-member %q, unknown %q", msg(wrong), msg(stranger), msg(unknown))
	}
	if br.cookie != nil {
		t.Fatal("a failed login set a session cookie")
	}

	wantRedirect(t, br.get("/tokens"), "/login?next=%2Ftokens")
	rec := br.post("/login", "email", "ALICE@example.com", "password", testPassword, "next", "/tokens")
	wantRedirect(t, rec, "/tokens")
	wantStatus(t, br.get("/tokens"), http.StatusOK)

	wantRedirect(t, br.post("/logout"), "/login")
	wantRedirect(t, br.get("/"), "/login")

	for _, next := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`, "javascript:alert(1)"} {
		rec := br.post("/login", "email", b.alice.Email, "password", testPassword, "next", next)
		wantRedirect(t, rec, "/")
		if loc := rec.Header().Get("Location"); loc != "/" {
			t.Errorf("next=%q redirected to %q, want /", next, loc)
		}
	}
}

// TestLoginRateLimit: per client address, and per account whatever the address.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.LoginLimits.Client = account.Limit{Burst: 3, Every: 1e12}
		c.LoginLimits.Account = account.Limit{Burst: 2, Every: 1e12}
	})
	br := b.browser(firstHost)
	for i := range 3 {
		wantStatus(t, br.post("/login", "email", fmt.Sprintf("x%d@example.com", i), "password", "wrong password"), http.StatusUnauthorized)
	}
	rec := br.post("/login", "email", "y@example.com", "password", "wrong password")
	wantStatus(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// Failures for one account from ever new addresses.
	for range 2 {
		wantStatus(t, b.browser(firstHost).post("/login", "email", b.alice.Email, "password", "wrong password"), http.StatusUnauthorized)
	}
	rec = b.browser(firstHost).post("/login", "email", "Alice@Example.com", "password", testPassword)
	wantStatus(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another account is not affected.
	b.browser(firstHost).login(b.dave.Email)
}

// TestCrossOriginPost: state-changing requests from another site are refused, from the same
// site (or without browser headers, like curl) accepted.
func TestCrossOriginPost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	with := func(k, v string) http.Header {
		h := form.Clone()
		h.Set(k, v)
		return h
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"cross-site fetch metadata", with("Sec-Fetch-Site", "cross-site"), http.StatusForbidden},
		{"same-site sibling", with("Sec-Fetch-Site", "same-site"), http.StatusForbidden},
		{"foreign Origin", with("Origin", "http://evil.example"), http.StatusForbidden},
		{"sibling workspace Origin", with("Origin", "http://"+secondHost), http.StatusForbidden},
		{"same origin", with("Sec-Fetch-Site", "same-origin"), http.StatusSeeOther},
		{"same Origin", with("Origin", "http://"+firstHost), http.StatusSeeOther},
		{"no browser headers", form, http.StatusSeeOther},
	} {
		rec := br.do(http.MethodPost, "/todos", strings.NewReader("title=x"), tc.header)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	// The login form too (login CSRF), and the API.
	rec := b.browser(firstHost).do(http.MethodPost, "/login", strings.NewReader(formBody("email", b.alice.Email, "password", testPassword)), with("Sec-Fetch-Site", "cross-site"))
	wantStatus(t, rec, http.StatusForbidden)
	rec = br.do(http.MethodPost, "/api/v1/todos", strings.NewReader(`{"title":"x"}`), http.Header{"Content-Type": {"application/json"}, "Origin": {"http://evil.example"}})
	wantStatus(t, rec, http.StatusForbidden)
	problemOf(t, rec)
}

// TestHTMLInjection: user input is escaped everywhere it is shown.
func TestHTMLInjection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	const evil = `<script>alert(1)</script>`
	wantRedirect(t, br.post("/todos", "title", evil), "/")
	rec := br.get("/")
	if strings.Contains(rec.Body.String(), evil) {
		t.Fatal("the page contains the title unescaped")
	}
	if !strings.Contains(rec.Body.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("the page does not contain the escaped title")
	}
	doc := parseHTML(t, rec)
	for _, s := range findAll(doc, byClass("script", "")) {
		if !strings.HasPrefix(attr(s, "src"), "/static/app.js?") {
			t.Fatalf("the page has a script element other than ours: src %q", attr(s, "src"))
		}
	}
	if got := todoTitles(t, rec); !slices.Contains(got, evil) {
		t.Fatalf("titles %q, want the text %q", got, evil)
	}
	// Kept text in a refused form, and the flash message, are escaped too.
	rec = br.post("/todos", "title", `"><script>x()</script>`+strings.Repeat("a", 500))
	wantStatus(t, rec, http.StatusBadRequest)
	if strings.Contains(rec.Body.String(), "<script>x()") {
		t.Fatal("the refused title is echoed unescaped")
	}
}

// TestUnknownHost: the same 404 page for every unknown host, and no database error.
func TestUnknownHost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var bodies []string
	for _, host := range []string{"nope.toodoo.test", "evil.example", "FIRST.toodoo.test.evil", "x", "[::1]:99"} {
		rec := b.browser(host).get("/")
		wantStatus(t, rec, http.StatusNotFound)
		// Its links lead to the public site, on the port the request came to.
		bodies = append(bodies, strings.ReplaceAll(rec.Body.String(), testBase+":99", testBase))
	}
	for _, body := range bodies[1:] {
		if body != bodies[0] {
			t.Fatalf("unknown hosts get different pages:\n%s\n---\n%s", bodies[0], body)
		}
	}
	if !strings.Contains(bodies[0], "No workspace at this address") {
		t.Fatalf("unknown host page: %s", bodies[0])
	}
	// Case, port and a trailing dot do not matter.
	for _, host := range []string{"FIRST.toodoo.test", "first.toodoo.test.", "first.toodoo.test:8080"} {
		wantRedirect(t, b.browser(host).get("/"), "/login")
	}
	// An unknown host never reaches the API either.
	rec := b.browser("nope.toodoo.test").api(http.MethodGet, "/api/v1/todos", "", "")
	wantStatus(t, rec, http.StatusNotFound)
}

// TestSuspendedTenant: a suspended workspace answers 403 on every page and the API, to
// everyone, until it is resumed; other workspaces are not affected.
func TestSuspendedTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	ctx := t.Context()
	if _, err := b.db.SetStatus(ctx, "first", tenancy.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first is suspended", func() bool { return br.get("/").Code == http.StatusForbidden })
	rec := br.get("/")
	if !strings.Contains(rec.Body.String(), "suspended") {
		t.Fatalf("suspended page: %s", rec.Body)
	}
	wantStatus(t, b.browser(firstHost).get("/login"), http.StatusForbidden)
	rec = br.api(http.MethodGet, "/api/v1/todos", "", "")
	wantStatus(t, rec, http.StatusForbidden)
	if p := problemOf(t, rec); p.Code != "suspended" {
		t.Fatalf("problem %+v", p)
	}
	wantRedirect(t, b.browser(secondHost).get("/"), "/login")

	if _, err := b.db.SetStatus(ctx, "first", tenancy.StatusActive); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first is active again", func() bool { return br.get("/").Code == http.StatusOK })
}

// TestHealth: /healthz and /readyz answer on any host.
func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, host := range []string{"10.0.0.1:8080", firstHost, "unknown.example"} {
		for _, path := range []string{"/healthz", "/readyz"} {
			rec := b.browser(host).get(path)
			wantStatus(t, rec, http.StatusOK)
		}
	}
}

// TestHostCacheCoherence: a domain added or removed, or a tenant suspended, through one process
// is seen by another process's cache (LISTEN/NOTIFY), which had cached the host as unknown.
func TestHostCacheCoherence(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := b.newServer() // a second process on the same database
	on := func(srv *Server, host string) *browser {
		return &browser{t: t, srv: srv, host: host, addr: "192.0.2.7:1"}
	}
	const newHost = "team.example.com"
	wantStatus(t, on(other, newHost).get("/login"), http.StatusNotFound)

	// Added through the first server's admin (a superuser creates a tenant with that domain).
	admin := on(b.srv, testBase)
	admin.login(b.root.Email)
	wantRedirect(t, admin.post("/admin/tenants", "name", "team", "display_name", "The Team", "domain", newHost), "/admin")
	eventually(t, "the second server serves the new tenant", func() bool { return on(other, newHost).get("/login").Code == http.StatusOK })

	// Another domain, added directly through tenancy.
	if _, err := b.db.AddDomain(t.Context(), "first", "first.example.org", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second server serves the added domain", func() bool {
		return on(other, "first.example.org").get("/login").Code == http.StatusOK
	})
	if err := b.db.RemoveDomain(t.Context(), "first.example.org"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second server forgets the removed domain", func() bool {
		return on(other, "first.example.org").get("/login").Code == http.StatusNotFound
	})

	// Suspended through the first server: the second answers 403.
	wantRedirect(t, admin.post("/admin/tenants/team/suspend"), "/admin")
	eventually(t, "the second server sees the suspension", func() bool { return on(other, newHost).get("/login").Code == http.StatusForbidden })
	// Deleted: the host is unknown everywhere.
	wantRedirect(t, admin.post("/admin/tenants/team/delete", "confirm", "team"), "/admin")
	eventually(t, "the second server forgets the deleted tenant", func() bool { return on(other, newHost).get("/login").Code == http.StatusNotFound })
}

// TestHostsWithoutListener: without a listener every lookup goes to the database, so it is
// never stale; unknown hosts are remembered in the bounded negative cache.
func TestHostsWithoutListener(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.newServer(func(c *Config) { c.DirectDatabaseURL = "" })
	srv.hosts.negativeMax = 3
	br := func(host string) *browser { return &browser{t: t, srv: srv, host: host, addr: "192.0.2.8:1"} }
	wantRedirect(t, br(firstHost).get("/"), "/login")
	for i := range 10 {
		wantStatus(t, br(fmt.Sprintf("n%d.example", i)).get("/"), http.StatusNotFound)
	}
	srv.hosts.mu.RLock()
	n := len(srv.hosts.negative)
	srv.hosts.mu.RUnlock()
	if n > 3 {
		t.Fatalf("negative cache holds %d hosts, want at most 3", n)
	}
	if _, err := b.db.SetStatus(t.Context(), "first", tenancy.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, br(firstHost).get("/"), http.StatusForbidden)
}

// TestSignup covers the public sign-up: refusals stay on the form with the message next to the
// field; success creates the workspace and asks to confirm the address by mail.
func TestSignup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, subdomain, email, wantField, wantText string
	}{
		{"taken", "first", "new1@example.com", "subdomain", "taken"},
		{"taken case-insensitively", "First", "new1@example.com", "subdomain", "taken"},
		{"reserved www", "www", "new1@example.com", "subdomain", "reserved"},
		{"reserved admin", "admin", "new1@example.com", "subdomain", "reserved"},
		{"reserved api", "api", "new1@example.com", "subdomain", "reserved"},
		{"too short", "ab", "new1@example.com", "subdomain", "3 to 32"},
		{"underscore", "a_b_c", "new1@example.com", "subdomain", "lowercase letters"},
		{"leading hyphen", "-abc", "new1@example.com", "subdomain", "lowercase letters"},
		{"double hyphen", "ab--cd", "new1@example.com", "subdomain", "lowercase letters"},
		{"dot", "a.bc", "new1@example.com", "subdomain", "lowercase letters"},
		{"schema prefix", "pg-abc", "new1@example.com", "subdomain", "reserved"},
		{"bad email", "newteam", "not-an-email", "email", "not an email"},
		{"short password", "newteam", "new1@example.com", "password", "too short"},
	} {
		password := testPassword
		if tc.wantField == "password" {
			password = "short"
		}
		rec := b.browser(testBase).post("/signup", "display_name", "New Team", "subdomain", tc.subdomain, "email", tc.email, "password", password)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.name, rec.Code)
			continue
		}
		doc := parseHTML(t, rec)
		errs := findAll(doc, byID(tc.wantField+"-error"))
		if len(errs) != 1 || !strings.Contains(text(errs[0]), tc.wantText) {
			t.Errorf("%s: error next to %s = %q, want it to mention %q", tc.name, tc.wantField, texts(doc, byClass("", "field-error")), tc.wantText)
		}
		if in := findAll(doc, byID("subdomain")); len(in) != 1 || attr(in[0], "value") != strings.ToLower(tc.subdomain) && attr(in[0], "value") != tc.subdomain {
			t.Errorf("%s: the typed subdomain is not kept", tc.name)
		}
	}
	// Nothing was created by the refusals.
	if _, err := b.accounts.GetUserByEmail(t.Context(), "new1@example.com"); err == nil {
		t.Fatal("a refused sign-up created its user")
	}

	// Success: the answer is "check your e-mail"; the link in the mail lands the new owner on
	// the workspace (TestSignupVerification), and a signed-in visitor lands there at once
	// (TestSignupSignedIn).
	rec := b.browser(testBase).post("/signup", "display_name", "Acme <Corp>", "subdomain", "Acme-Co", "email", "ann@example.com", "password", testPassword)
	wantStatus(t, rec, http.StatusOK)
	if _, err := b.db.Get(t.Context(), "acme_co"); err != nil {
		t.Fatalf("the workspace was not created: %v", err)
	}
}

// TestLoginTokenOtherHost: a token issued for first cannot be spent on second, and stays good
// for first afterwards.
func TestLoginTokenOtherHost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	token, err := b.accounts.IssueLoginToken(t.Context(), b.alice.ID, b.first.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	link := "/login/token?t=" + url.QueryEscape(token)
	b.member(b.second, b.alice, account.RoleMember)
	wantStatus(t, b.browser(secondHost).get(link), http.StatusUnauthorized)
	wantStatus(t, b.browser(testBase).get(link), http.StatusUnauthorized) // the public site is another host too
	wantStatus(t, b.browser(secondHost).post("/login/token", "t", token), http.StatusUnauthorized)
	br := b.browser(firstHost)
	wantRedirect(t, br.post("/login/token", "t", token), "/")
	wantStatus(t, br.get("/"), http.StatusOK)
	wantStatus(t, b.browser(firstHost).post("/login/token", "t", token), http.StatusUnauthorized)
}

// TestHostCacheMissAsksDatabase: a host missing from a live map may be a tenant whose
// notification is still on its way (sign-up redirects the browser to it at once, perhaps to
// another process), so a miss asks the database, within a global budget that bounds what a
// flood of random host names can cost.
func TestHostCacheMissAsksDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := func(host string) *browser { return &browser{t: t, srv: b.srv, host: host, addr: "192.0.2.9:1"} }
	// A domain the listener has not been told about: inserted without NOTIFY.
	addSilently := func(domain string) {
		t.Helper()
		if _, err := b.db.Pool().Exec(t.Context(), "INSERT INTO public.domains (domain, tenant_id) VALUES ($1, $2)", domain, b.first.ID); err != nil {
			t.Fatal(err)
		}
	}
	addSilently("quiet.example.com")
	wantRedirect(t, br("quiet.example.com").get("/"), "/login")

	// Budget spent: misses are unknown without a query, even for a host that exists.
	b.srv.hosts.misses = newLimiter(RateLimit{Burst: 1, Every: time.Hour})
	wantStatus(t, br("random-1.example.com").get("/"), http.StatusNotFound)
	addSilently("later.example.com")
	wantStatus(t, br("later.example.com").get("/"), http.StatusNotFound)
}

// TestHeadIsGetWithoutBody: HEAD is answered wherever GET is (monitoring probes, link checkers).
func TestHeadIsGetWithoutBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	for _, path := range []string{"/", "/tokens", "/api/v1/todos"} {
		if rec := br.do(http.MethodHead, path, nil, nil); rec.Code != http.StatusOK {
			t.Errorf("HEAD %s = %d, want 200", path, rec.Code)
		}
	}
}
