package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
)

// TestSignupIsNoOracle (finding 1): sign-up never checks a password for an existing address
// and answers the same whether the address has an account or not; a correct password for an
// existing address creates nothing and reveals nothing. The owner of the address gets a mail.
// Before the fix a wrong password answered 400 "An account with this email exists already"
// and the right one created a workspace (303 to it).
func TestSignupIsNoOracle(t *testing.T) {
	b := setup(t)
	box := b.mailbox()
	form := func(sub, email, password string) []string {
		return []string{"display_name", "New Team", "subdomain", sub, "email", email, "password", password}
	}
	right := b.browser(testBase).post("/signup", form("alice-two", b.alice.Email, testPassword)...)
	wrong := b.browser(testBase).post("/signup", form("alice-three", b.alice.Email, "wrong password!")...)
	unknown := b.browser(testBase).post("/signup", form("newcomer", "newcomer@example.com", testPassword)...)
	wantStatus(t, right, http.StatusOK)
	wantSameAnswer(t, "existing address, right vs wrong password", right, wrong)
	wantSameAnswer(t, "existing vs unknown address", right, unknown)

	// Nothing was created for the existing address, and its memberships are unchanged.
	for _, name := range []string{"alice_two", "alice_three"} {
		if _, err := b.db.Get(t.Context(), name); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
			t.Errorf("tenant %s: %v, want none", name, err)
		}
	}
	if ws, err := b.accounts.ListWorkspaces(t.Context(), b.alice.ID); err != nil || len(ws) != 1 {
		t.Errorf("alice's workspaces: %+v, %v; want only first", ws, err)
	}
	// Her address got one mail (the same notice goes at most once an hour); the newcomer a
	// verification link.
	m := box.Wait(t, b.alice.Email, "Someone tried to sign up")
	if !strings.Contains(m.Body, "No account was created") || !strings.Contains(m.Link(t, "/login"), testBase) {
		t.Errorf("the mail to the existing address:\n%s", m.Body)
	}
	box.Wait(t, "newcomer@example.com", "Confirm your e-mail address")
	notices := 0
	for _, e := range b.queuedMails() {
		if e.To == b.alice.Email {
			notices++
		}
	}
	if notices != 1 {
		t.Errorf("%d notices queued for alice after two attempts, want 1", notices)
	}

	// A taken subdomain is refused alike for both kinds of address.
	takenKnown := b.browser(testBase).post("/signup", form("first", b.alice.Email, testPassword)...)
	takenUnknown := b.browser(testBase).post("/signup", form("first", "someone@example.com", testPassword)...)
	wantStatus(t, takenKnown, http.StatusBadRequest)
	wantSameAnswer(t, "taken subdomain, existing vs unknown address", takenKnown, takenUnknown, b.alice.Email, "someone@example.com")
}

// TestSignupVerification: a new account is unverified until its link is used; it cannot sign
// in before; the link's GET and HEAD spend nothing; its POST proves the address and lands the
// owner signed in on the new workspace; the link works once and on its host only.
func TestSignupVerification(t *testing.T) {
	b := setup(t)
	box := b.mailbox()
	pub := &browser{t: t, srv: b.srv, host: testBase + ":8080", addr: "192.0.2.30:1"}
	rec := pub.post("/signup", "display_name", "Acme <Corp>", "subdomain", "Acme-Co", "email", "ann@example.com", "password", testPassword)
	wantStatus(t, rec, http.StatusOK)
	if got := texts(parseHTML(t, rec), byID("check-email")); len(got) != 1 || !strings.Contains(got[0], "sent a link") {
		t.Fatalf("sign-up answer: %q", got)
	}
	m := box.Wait(t, "ann@example.com", "Confirm your e-mail address")
	link := m.Link(t, "/verify?t=")
	if !strings.HasPrefix(link, "http://acme-co.toodoo.test:8080/verify?t=") || !strings.Contains(m.Body, "Acme <Corp>") {
		t.Fatalf("verification mail:\n%s", m.Body)
	}
	acme := &browser{t: t, srv: b.srv, host: "acme-co.toodoo.test:8080", addr: "192.0.2.31:1"}
	eventually(t, "the new workspace is served", func() bool { return acme.get("/login").Code == http.StatusOK })

	// Unverified: the right password does not sign in, here or on the public site.
	if rec := acme.post("/login", "email", "ann@example.com", "password", testPassword); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Confirm your e-mail address first") {
		t.Fatalf("login before verifying: %d\n%.800s", rec.Code, rec.Body)
	}
	wantStatus(t, b.browser(testBase).post("/login", "email", "ann@example.com", "password", testPassword), http.StatusForbidden)

	path := follow(t, acme, link)
	token := tokenOf(t, link)
	wantStatus(t, b.browser(secondHost).get("/verify?t="+token), http.StatusBadRequest) // another host
	wantStatus(t, b.browser(secondHost).post("/verify", "t", token), http.StatusBadRequest)
	wantStatus(t, acme.do(http.MethodHead, path, nil, nil), http.StatusOK)
	show := acme.get(path)
	wantStatus(t, show, http.StatusOK)
	if !strings.Contains(show.Body.String(), "ann@example.com") {
		t.Error("the verification page does not say which address")
	}
	wantRedirect(t, acme.post("/verify", "t", token), "/")
	rec = acme.get("/")
	wantStatus(t, rec, http.StatusOK)
	if brand := texts(parseHTML(t, rec), byClass("a", "brand")); len(brand) != 1 || brand[0] != "Acme <Corp>" {
		t.Fatalf("header shows %q", brand)
	}
	wantStatus(t, acme.get("/members"), http.StatusOK) // the owner
	wantStatus(t, (&browser{t: t, srv: b.srv, host: acme.host, addr: "192.0.2.32:1"}).post("/verify", "t", token), http.StatusBadRequest)
	// Verified: the password signs in.
	wantRedirect(t, (&browser{t: t, srv: b.srv, host: acme.host, addr: "192.0.2.33:1"}).post("/login", "email", "ann@example.com", "password", testPassword), "/")
}

// TestSignupSignedIn: someone signed in on the public site creates another workspace without
// typing an address or password, and lands in it.
func TestSignupSignedIn(t *testing.T) {
	b := setup(t)
	pub := b.browser(testBase)
	pub.login(b.alice.Email)
	form := pub.get("/signup")
	wantStatus(t, form, http.StatusOK)
	if len(findAll(parseHTML(t, form), byID("password"))) != 0 {
		t.Error("the signed-in sign-up form asks for a password")
	}
	rec := pub.post("/signup", "display_name", "Alice's Other", "subdomain", "alice-two")
	wantRedirect(t, rec, "http://alice-two.toodoo.test/login/token?t=")
	ws := b.browser("alice-two.toodoo.test")
	eventually(t, "the new workspace is served", func() bool { return ws.get("/login").Code == http.StatusOK })
	// The link shows a button (it spends nothing); the button signs in.
	link := rec.Header().Get("Location")
	wantStatus(t, ws.get(follow(t, ws, link)), http.StatusOK)
	wantRedirect(t, ws.post("/login/token", "t", tokenOf(t, link)), "/")
	wantStatus(t, ws.get("/members"), http.StatusOK)
}
