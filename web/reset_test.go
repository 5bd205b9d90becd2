package web

import (
	"net/http"
	"strings"
	"testing"
)

// TestPasswordReset: "Forgot your password?" answers the same for a known and an unknown
// address and mails only the known one; the link's GET (and HEAD) spends nothing; the POST sets
// the password, signs in here, ends the session elsewhere, and works once.
func TestPasswordReset(t *testing.T) {
	b := setup(t)
	box := b.mailbox()
	elsewhere := b.browser(firstHost)
	elsewhere.login("alice@example.com")
	wantStatus(t, elsewhere.get("/"), http.StatusOK)

	br := b.browser(firstHost)
	login := br.get("/login")
	if !strings.Contains(login.Body.String(), `href="/password/forgot"`) {
		t.Fatal("the sign-in page has no \"Forgot your password?\" link")
	}
	wantStatus(t, br.get("/password/forgot"), http.StatusOK)
	known := br.post("/password/forgot", "email", "Alice@Example.com")
	unknown := b.browser(firstHost).post("/password/forgot", "email", "nobody@example.com")
	wantStatus(t, known, http.StatusOK)
	wantSameAnswer(t, "forgot: known vs unknown address", known, unknown)
	// Asked again at once: the same answer, and no second mail (one a minute per account).
	wantSameAnswer(t, "forgot: asked again", known, br.post("/password/forgot", "email", "alice@example.com"))
	if list := b.queuedMails(); len(list) != 1 || list[0].To != "alice@example.com" {
		t.Fatalf("queue = %+v, want one mail, to alice", list)
	}
	wantStatus(t, br.post("/password/forgot", "email", "not an address"), http.StatusBadRequest)

	m := box.Wait(t, "alice@example.com", "Reset your Toodoo password")
	link := m.Link(t, "/password/reset?t=")
	path := follow(t, br, link)
	wantStatus(t, br.do(http.MethodHead, path, nil, nil), http.StatusOK)
	show := br.get(path)
	wantStatus(t, show, http.StatusOK)
	if !strings.Contains(show.Body.String(), "alice@example.com") {
		t.Errorf("the reset form does not say whose password it sets")
	}
	token := tokenOf(t, link)
	wantStatus(t, br.post("/password/reset", "t", token, "new_password", "a new long password", "confirm_password", "another one"), http.StatusBadRequest)
	wantStatus(t, br.post("/password/reset", "t", token, "new_password", "short", "confirm_password", "short"), http.StatusBadRequest)
	wantRedirect(t, br.post("/password/reset", "t", token, "new_password", "a new long password", "confirm_password", "a new long password"), "/")
	wantStatus(t, br.get("/"), http.StatusOK) // signed in here

	wantRedirect(t, elsewhere.get("/"), "/login") // the other session ended
	again := b.browser(firstHost)
	wantStatus(t, again.post("/password/reset", "t", token, "new_password", "a third password", "confirm_password", "a third password"), http.StatusBadRequest)
	wantStatus(t, again.get(path), http.StatusBadRequest)
	wantStatus(t, again.post("/login", "email", "alice@example.com", "password", testPassword), http.StatusUnauthorized)
	wantRedirect(t, again.post("/login", "email", "alice@example.com", "password", "a new long password"), "/")
}

// TestPasswordResetLinkIsBoundToItsSite: a link asked for on the public site does nothing on a
// workspace's host, and the reverse.
func TestPasswordResetLinkIsBoundToItsSite(t *testing.T) {
	b := setup(t)
	box := b.mailbox()
	wantStatus(t, b.browser(testBase).post("/password/forgot", "email", "bob@example.com"), http.StatusOK)
	link := box.Wait(t, "bob@example.com", "Reset").Link(t, "/password/reset?t=")
	if !strings.HasPrefix(link, "http://"+testBase+"/") {
		t.Fatalf("link %q is not on the public site", link)
	}
	token := tokenOf(t, link)
	ws := b.browser(secondHost)
	wantStatus(t, ws.get("/password/reset?t="+token), http.StatusBadRequest)
	wantStatus(t, ws.post("/password/reset", "t", token, "new_password", "a new long password", "confirm_password", "a new long password"), http.StatusBadRequest)
	pub := b.browser(testBase)
	wantRedirect(t, pub.post("/password/reset", "t", token, "new_password", "a new long password", "confirm_password", "a new long password"), "/")
	wantStatus(t, pub.get("/"), http.StatusOK)
}
