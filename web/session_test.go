package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/toodoo/toodoo/account"
)

// replay returns a new visitor on host from another address that sends a copy of cookie, as
// someone who copied it by hand would.
func (b *bundle) replay(host string, cookie *http.Cookie) *browser {
	c := *cookie
	return &browser{t: b.t, srv: b.srv, host: host, addr: "198.51.100." + itoa(1+clientSeq.Add(1)%250) + ":4321", cookie: &c}
}

// TestLogoutEndsSession (issue 8, finding 4): a cookie copied before POST /logout opens
// nothing afterwards, neither the pages nor the cookie-authenticated API, on a workspace and on
// the public site.
func TestLogoutEndsSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	copied := *br.cookie
	wantStatus(t, b.replay(firstHost, &copied).get("/"), http.StatusOK)
	wantStatus(t, b.replay(firstHost, &copied).api(http.MethodGet, "/api/v1/todos", "", ""), http.StatusOK)

	wantRedirect(t, br.post("/logout"), "/login")
	wantRedirect(t, b.replay(firstHost, &copied).get("/"), "/login")
	wantRedirect(t, b.replay(firstHost, &copied).get("/password"), "/login")
	wantStatus(t, b.replay(firstHost, &copied).api(http.MethodGet, "/api/v1/todos", "", ""), http.StatusUnauthorized)
	wantStatus(t, b.replay(firstHost, &copied).api(http.MethodPost, "/api/v1/todos", `{"title": "after logout"}`, ""), http.StatusUnauthorized)

	pub := b.browser(testBase)
	pub.login(b.alice.Email)
	copied = *pub.cookie
	wantStatus(t, b.replay(testBase, &copied).get("/password"), http.StatusOK)
	wantRedirect(t, pub.post("/logout"), "/login")
	wantRedirect(t, b.replay(testBase, &copied).get("/password"), "/login")
}

// TestSignOutEverywhere (issue 8, finding 4): the button ends every session of the user on
// every host, the one that pressed it too, and nobody else's.
func TestSignOutEverywhere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.member(b.second, b.alice, account.RoleMember)
	here, there, pub := b.browser(firstHost), b.browser(secondHost), b.browser(testBase)
	here.login(b.alice.Email)
	there.login(b.alice.Email)
	pub.login(b.alice.Email)
	daves := b.browser(firstHost)
	daves.login(b.dave.Email)
	copied := *here.cookie

	rec := here.get("/password")
	wantStatus(t, rec, http.StatusOK)
	doc := parseHTML(t, rec)
	if got := len(findAll(doc, byClass("tr", "session"))); got != 3 {
		t.Fatalf("the page lists %d sessions, want 3:\n%s", got, rec.Body)
	}
	main := findAll(doc, byID("main"))[0] // the account menu in the header has one too
	if got := findAll(main, func(n *html.Node) bool { return n.Data == "form" && attr(n, "action") == "/logout/everywhere" }); len(got) != 1 {
		t.Fatal(`no "Sign out everywhere" form on the password page`)
	}

	wantRedirect(t, here.post("/logout/everywhere"), "/login")
	wantRedirect(t, b.replay(firstHost, &copied).get("/"), "/login")
	wantRedirect(t, there.get("/"), "/login")
	wantRedirect(t, pub.get("/password"), "/login")
	wantStatus(t, daves.get("/"), http.StatusOK) // another user's session is untouched
	here.login(b.alice.Email)                    // and signing in again works
	wantStatus(t, here.get("/"), http.StatusOK)
}

// TestSessionEnd: one session of the list can be ended from another; a session id of another
// user is not found.
func TestSessionEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	here, other := b.browser(firstHost), b.browser(firstHost)
	here.login(b.alice.Email)
	other.login(b.alice.Email)
	sessions, err := b.accounts.ListSessions(t.Context(), b.alice.ID)
	if err != nil || len(sessions) != 2 {
		t.Fatalf("sessions %v, %v", sessions, err)
	}
	daves := b.browser(firstHost)
	daves.login(b.dave.Email)
	for _, s := range sessions {
		wantStatus(t, daves.post(fmt.Sprintf("/sessions/%d/end", s.ID)), http.StatusNotFound)
	}
	wantStatus(t, other.get("/"), http.StatusOK)
	// The newest comes first: that is other's.
	wantRedirect(t, here.post(fmt.Sprintf("/sessions/%d/end", sessions[0].ID)), "/password")
	wantRedirect(t, other.get("/"), "/login")
	wantStatus(t, here.get("/"), http.StatusOK)
}

// TestPasswordChangeKeepsOnlyThisSession (issue 8, finding 4): after a password change on the
// page the other sessions are gone, everywhere; the browser that changed it goes on under a new
// session id, and a copy of its cookie from before the change is refused.
func TestPasswordChangeKeepsOnlyThisSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.member(b.second, b.alice, account.RoleMember)
	here, other, elsewhere := b.browser(firstHost), b.browser(firstHost), b.browser(secondHost)
	here.login(b.alice.Email)
	other.login(b.alice.Email)
	elsewhere.login(b.alice.Email)
	before := *here.cookie
	wantRedirect(t, here.post("/password", "current_password", testPassword, "new_password", "new password 1", "confirm_password", "new password 1"), "/")
	wantStatus(t, here.get("/"), http.StatusOK)
	wantStatus(t, here.api(http.MethodGet, "/api/v1/todos", "", ""), http.StatusOK)
	wantRedirect(t, other.get("/"), "/login")
	wantRedirect(t, elsewhere.get("/"), "/login")
	wantRedirect(t, b.replay(firstHost, &before).get("/"), "/login")
	if sessions, err := b.accounts.ListSessions(t.Context(), b.alice.ID); err != nil || len(sessions) != 1 {
		t.Fatalf("after the change alice has sessions %v, %v; want exactly this one", sessions, err)
	}
}

// TestRemovedMemberTokensRevoked (issue 8, lower finding): removing a member deletes their API
// tokens (and sessions) for that workspace, so adding them back brings none of them back.
func TestRemovedMemberTokensRevoked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, token, err := b.accounts.CreateAPIToken(ctx, b.first.ID, b.dave.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	b.member(b.second, b.dave, account.RoleMember)
	_, elsewhere, err := b.accounts.CreateAPIToken(ctx, b.second.ID, b.dave.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	script := b.browser(firstHost)
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusOK)
	daves := b.browser(firstHost)
	daves.login(b.dave.Email)
	copied := *daves.cookie

	owner := b.browser(firstHost)
	owner.login(b.alice.Email)
	wantRedirect(t, owner.post(fmt.Sprintf("/members/%d/remove", b.dave.ID), "confirm", "yes"), "/members")
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusUnauthorized)
	b.member(b.first, b.dave, account.RoleMember)
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusUnauthorized)
	wantRedirect(t, b.replay(firstHost, &copied).get("/"), "/login")
	// The token for the other workspace is not touched.
	wantStatus(t, b.browser(secondHost).api(http.MethodGet, "/api/v1/todos", "", elsewhere), http.StatusOK)
}

// TestPasswordChangeRevokesTokens (issue 8, lower finding): a new password, on the page or
// through SetPassword (the CLI, a reset), revokes the user's API tokens on every workspace.
func TestPasswordChangeRevokesTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, token, err := b.accounts.CreateAPIToken(ctx, b.first.ID, b.alice.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	_, daves, err := b.accounts.CreateAPIToken(ctx, b.first.ID, b.dave.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	script := b.browser(firstHost)
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusOK)
	here := b.browser(firstHost)
	here.login(b.alice.Email)
	wantRedirect(t, here.post("/password", "current_password", testPassword, "new_password", "new password 1", "confirm_password", "new password 1"), "/")
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusUnauthorized)
	if toks, err := b.accounts.ListAPITokens(ctx, b.first.ID, b.alice.ID); err != nil || len(toks) != 1 || toks[0].RevokedAt == nil {
		t.Fatalf("alice's tokens after the change: %+v, %v; want one, revoked", toks, err)
	}
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", daves), http.StatusOK) // not dave's

	if _, err := b.accounts.SetPassword(ctx, b.dave.ID, "another new password"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", daves), http.StatusUnauthorized)
}

// TestLoginLinkSurvivesScanners (issue 8, lower finding): HEAD and GET on a one-time sign-in
// link show a page with a button and spend nothing; only the POST from that page signs in, and
// only once.
func TestLoginLinkSurvivesScanners(t *testing.T) {
	t.Parallel()
	b := setup(t)
	token, err := b.accounts.IssueLoginToken(t.Context(), b.alice.ID, b.first.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	link := "/login/token?t=" + url.QueryEscape(token)
	scanner := b.browser(firstHost)
	wantStatus(t, scanner.do(http.MethodHead, link, nil, nil), http.StatusOK)
	wantStatus(t, scanner.get(link), http.StatusOK)
	if scanner.cookie != nil {
		t.Fatal("looking at the link signed the scanner in")
	}

	br := b.browser(firstHost)
	rec := br.get(link)
	wantStatus(t, rec, http.StatusOK)
	doc := parseHTML(t, rec)
	forms := findAll(doc, func(n *html.Node) bool { return n.Data == "form" && attr(n, "action") == "/login/token" })
	if len(forms) != 1 || attr(forms[0], "method") != "post" {
		t.Fatalf("the link's page has no POST form to /login/token:\n%s", rec.Body)
	}
	hidden := findAll(forms[0], func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "t" })
	if len(hidden) != 1 || attr(hidden[0], "value") != token {
		t.Fatal("the form does not carry the token")
	}
	if button := texts(forms[0], byClass("button", "")); len(button) != 1 || button[0] != "Continue to First Team" {
		t.Fatalf("button %q", button)
	}
	if br.cookie != nil {
		t.Fatal("GET signed in")
	}

	wantRedirect(t, br.post("/login/token", "t", token), "/")
	wantStatus(t, br.get("/"), http.StatusOK)
	wantStatus(t, b.browser(firstHost).post("/login/token", "t", token), http.StatusUnauthorized)
	wantStatus(t, b.browser(firstHost).get(link), http.StatusUnauthorized)
	if !strings.Contains(b.browser(firstHost).get(link).Body.String(), "invalid, used or expired") {
		t.Error("a used link's page does not say so")
	}
}

// TestOwnerLeaves: an owner who removes themself is signed out of the workspace at once, and
// told so.
func TestOwnerLeaves(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.member(b.first, b.dave, account.RoleOwner)
	alice := b.browser(firstHost)
	alice.login(b.alice.Email)
	wantRedirect(t, alice.post(fmt.Sprintf("/members/%d/remove", b.alice.ID), "confirm", "yes"), "/login")
	rec := alice.get("/login")
	wantStatus(t, rec, http.StatusOK)
	if got := texts(parseHTML(t, rec), byClass("p", "flash")); len(got) != 1 || got[0] != "You have left First Team." {
		t.Fatalf("flash %q", got)
	}
	wantRedirect(t, alice.get("/"), "/login")
}
