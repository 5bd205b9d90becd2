package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

// switchLink posts the workspace menu's form on br (to: a tenant id or "public") and returns the
// one-time link it redirects to, split into the host and the path with its query.
func switchLink(t *testing.T, br *browser, to string, kv ...string) (host, path string) {
	t.Helper()
	rec := br.post("/switch", append([]string{"to", to}, kv...)...)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("switch to %s: status %d\n%.1000s", to, rec.Code, rec.Body)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || u.Path != "/login/token" || u.Query().Get("t") == "" {
		t.Fatalf("switch to %s redirects to %q, want a one-time link", to, rec.Header().Get("Location"))
	}
	return u.Host, u.RequestURI()
}

// loginTokens counts the login tokens issued to the user.
func (b *bundle) loginTokens(userID int64) int {
	b.t.Helper()
	var n int
	if err := b.db.Pool().QueryRow(b.t.Context(), "SELECT count(*) FROM public.login_tokens WHERE user_id = $1", userID).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}

// TestSwitchWorkspace: the workspace menu moves a member of two workspaces from one to the other
// without a password, through a one-time link bound to the user and the target host; and the
// link resists what an attacker would try with it.
func TestSwitchWorkspace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.member(b.second, b.alice, account.RoleMember)
	first := b.browser(firstHost)
	first.login(b.alice.Email)
	second := strconv.FormatInt(b.second.ID, 10)

	// The menu lists both of alice's workspaces, the current one marked.
	doc := parseHTML(t, first.get("/"))
	menu := findAll(doc, byClass("details", "ws-menu"))
	if len(menu) != 1 {
		t.Fatal("no workspace menu")
	}
	if got := texts(menu[0], func(n *nodeT) bool { return attr(n, "aria-current") == "page" }); len(got) != 1 || !strings.Contains(got[0], "First Team") {
		t.Fatalf("current workspace in the menu: %q", got)
	}
	if !strings.Contains(text(menu[0]), "Second Team") {
		t.Fatalf("the menu does not list the second workspace: %q", text(menu[0]))
	}

	// The switch: a link on second's host, a page that says who, a button that signs in.
	host, link := switchLink(t, first, second)
	if host != secondHost {
		t.Fatalf("the link is for %s, want %s", host, secondHost)
	}
	there := b.browser(secondHost)
	rec := there.get(link)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), b.alice.Email) || there.cookie != nil {
		t.Fatalf("the page behind the link does not say whom it signs in, or signed in on a GET:\n%.1500s", rec.Body)
	}
	token := mustQuery(t, link, "t")
	wantRedirect(t, there.post("/login/token", "t", token), "/")
	rec = there.get("/")
	wantStatus(t, rec, http.StatusOK)
	if got := texts(parseHTML(t, rec), byClass("span", "who")); len(got) != 1 || got[0] != b.alice.Email {
		t.Fatalf("signed in on second as %q, want alice", got)
	}

	t.Run("Replay", func(t *testing.T) {
		wantStatus(t, b.browser(secondHost).post("/login/token", "t", token), http.StatusUnauthorized)
		wantStatus(t, b.browser(secondHost).get(link), http.StatusUnauthorized)
	})

	t.Run("AnotherTenant", func(t *testing.T) {
		_, link := switchLink(t, first, second)
		token := mustQuery(t, link, "t")
		for _, host := range []string{firstHost, testBase} {
			wantStatus(t, b.browser(host).get(link), http.StatusUnauthorized)
			wantStatus(t, b.browser(host).post("/login/token", "t", token), http.StatusUnauthorized)
		}
		// Refused elsewhere, it still works where it was meant for.
		wantRedirect(t, b.browser(secondHost).post("/login/token", "t", token), "/")
	})

	t.Run("AnotherUser", func(t *testing.T) {
		// dave is a member of first only: he cannot get a link to second, nor carol (no
		// workspace) from the public site, whatever they post; no token is issued.
		dave := b.browser(firstHost)
		dave.login(b.dave.Email)
		carol := b.browser(testBase)
		carol.login(b.carol.Email)
		for _, to := range []string{second, strconv.FormatInt(b.first.ID, 10) + "0", "0", "-1", "x", ""} {
			wantStatus(t, dave.post("/switch", "to", to), http.StatusNotFound)
			wantStatus(t, carol.post("/switch", "to", to), http.StatusNotFound)
		}
		if n := b.loginTokens(b.dave.ID) + b.loginTokens(b.carol.ID); n != 0 {
			t.Fatalf("%d login tokens issued to people who may not switch", n)
		}
		// Anonymous visitors are asked to sign in.
		wantRedirect(t, b.browser(firstHost).post("/switch", "to", second), "/login")
	})

	t.Run("AlreadyThere", func(t *testing.T) {
		// Back and forth: signed in on second already, the link just leads on (and is spent).
		_, link := switchLink(t, first, second)
		wantRedirect(t, there.get(link), "/")
		wantStatus(t, b.browser(secondHost).post("/login/token", "t", mustQuery(t, link, "t")), http.StatusUnauthorized)
	})
	t.Run("NoLongerMember", func(t *testing.T) {
		// (Removing her also ends her sessions there.)
		_, link := switchLink(t, first, second)
		if err := b.accounts.RemoveMember(t.Context(), b.second.ID, b.alice.ID); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.member(b.second, b.alice, account.RoleMember) })
		wantStatus(t, b.browser(secondHost).post("/login/token", "t", mustQuery(t, link, "t")), http.StatusUnauthorized)
	})

}

// TestSwitchToPublicSite: after signing in on a workspace (as after sign-up), "All workspaces"
// signs the user in on the public site too, which then shows them signed in; "next" is kept, but
// only as a local path. A suspended workspace cannot be switched to.
func TestSwitchToPublicSite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.browser(firstHost)
	first.login(b.alice.Email)

	host, link := switchLink(t, first, switchPublic, "next", "/signup")
	if host != testBase {
		t.Fatalf("the link is for %s, want the public site", host)
	}
	pub := b.browser(testBase)
	wantStatus(t, pub.get(link), http.StatusOK)
	wantRedirect(t, pub.post("/login/token", "t", mustQuery(t, link, "t"), "next", mustQuery(t, link, "next")), "/signup")
	rec := pub.get("/")
	wantStatus(t, rec, http.StatusOK)
	if got := texts(parseHTML(t, rec), byClass("span", "who")); len(got) != 1 || got[0] != b.alice.Email {
		t.Fatalf("the public site shows %q signed in, want alice", got)
	}

	// "next" cannot send anyone elsewhere.
	_, link = switchLink(t, first, switchPublic, "next", "//evil.example/x")
	if strings.Contains(link, "evil") {
		t.Fatalf("link %q carries the foreign next", link)
	}

	// A suspended workspace: refused, no token.
	b.member(b.second, b.alice, account.RoleMember)
	if _, err := b.db.SetStatus(t.Context(), b.second.Schema, tenancy.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	before := b.loginTokens(b.alice.ID)
	wantStatus(t, first.post("/switch", "to", strconv.FormatInt(b.second.ID, 10)), http.StatusForbidden)
	if b.loginTokens(b.alice.ID) != before {
		t.Fatal("a token was issued for a suspended workspace")
	}
}

// TestSignOutHereAndEverywhere: "Sign out of this workspace" ends this host's session only;
// "Sign out everywhere" ends them all, the public site's too.
func TestSignOutHereAndEverywhere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.browser(firstHost)
	first.login(b.alice.Email)
	pub := b.browser(testBase)
	pub.login(b.alice.Email)

	doc := parseHTML(t, first.get("/"))
	menu := findAll(doc, byClass("details", "account-menu"))
	if len(menu) != 1 || !strings.Contains(text(menu[0]), "Sign out of this workspace") || !strings.Contains(text(menu[0]), "Sign out everywhere") {
		t.Fatal("the account menu lacks its two ways of signing out")
	}
	wantRedirect(t, first.post("/logout"), "/login")
	wantRedirect(t, first.get("/"), "/login")
	if rec := pub.get("/password"); rec.Code != http.StatusOK {
		t.Fatalf("signing out of a workspace signed out of the public site: %d", rec.Code)
	}

	first.login(b.alice.Email)
	wantRedirect(t, pub.post("/logout/everywhere"), "/login")
	wantRedirect(t, first.get("/"), "/login")
	wantRedirect(t, pub.get("/password"), "/login")
}

// mustQuery returns the value of a query parameter of a path with a query.
func mustQuery(t *testing.T, pathQuery, name string) string {
	t.Helper()
	u, err := url.Parse(pathQuery)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}

// TestSwitchLimited: minting one-time links through the menu spends the client address's
// budget: past it, 429 with Retry-After, and no token.
func TestSwitchLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.LoginLimits.Client = account.Limit{Burst: 3, Every: time.Hour} })
	b.member(b.second, b.alice, account.RoleMember)
	first := b.browser(firstHost)
	first.login(b.alice.Email)
	second := strconv.FormatInt(b.second.ID, 10)
	for range 3 {
		switchLink(t, first, second)
	}
	before := b.loginTokens(b.alice.ID)
	rec := first.post("/switch", "to", second)
	wantStatus(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if b.loginTokens(b.alice.ID) != before {
		t.Error("a token was issued past the budget")
	}
}

// TestSwitchMenuBounded: a member of many workspaces gets a menu of menuMax entries plus the
// current one, with a count of the rest, on every page; the public home page lists them all.
func TestSwitchMenuBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const extra = menuMax + 4
	for i := range extra {
		// Named so that they sort before "First Team": the current one falls outside the first menuMax.
		ws := testfactory.Tenant(t.Context(), t, b.db, &testfactory.TenantOpts{
			Name: fmt.Sprintf("many%02d", i), DisplayName: fmt.Sprintf("A team %02d", i), Domain: fmt.Sprintf("many%02d.example.test", i)})
		b.member(ws, b.alice, account.RoleMember)
	}
	first := b.browser(firstHost)
	first.login(b.alice.Email)
	doc := parseHTML(t, first.get("/"))
	menu := findAll(doc, byClass("details", "ws-menu"))
	if len(menu) != 1 {
		t.Fatal("no workspace menu")
	}
	entries := findAll(menu[0], func(n *nodeT) bool { return n.Data == "li" })
	if len(entries) != menuMax+1 {
		t.Fatalf("the menu has %d entries, want %d (menuMax and the current one)", len(entries), menuMax+1)
	}
	if got := texts(menu[0], func(n *nodeT) bool { return attr(n, "aria-current") == "page" }); len(got) != 1 || !strings.Contains(got[0], "First Team") {
		t.Fatalf("current workspace in the menu: %q", got)
	}
	// alice is in extra + 1 workspaces; the menu shows menuMax + 1.
	if want := fmt.Sprintf("%d more under All workspaces", extra+1-(menuMax+1)); !strings.Contains(text(menu[0]), want) {
		t.Fatalf("the menu does not say %q: %q", want, text(menu[0]))
	}

	// The public home page lists every one of them.
	_, link := switchLink(t, first, switchPublic)
	pub := b.browser(testBase)
	wantRedirect(t, pub.post("/login/token", "t", mustQuery(t, link, "t")), "/")
	home := parseHTML(t, pub.get("/"))
	if got := findAll(home, byClass("button", "ws-open")); len(got) != extra+1 {
		t.Fatalf("the home page lists %d workspaces, want %d", len(got), extra+1)
	}
}
