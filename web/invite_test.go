package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
)

// TestMembershipByConsent (finding 3): an attacker signs up (unverified) as victim@corp.example;
// when an owner adds that address on /members, the attacker does not become a member, and
// cannot accept the invitation with the account they made; the owner's answer is the same for
// a known and an unknown address. Before the fix the add made the attacker a member at once
// ("is now a member"), and an unknown address got an invitation link instead.
func TestMembershipByConsent(t *testing.T) {
	b := setup(t)
	box := b.mailbox()
	const victim = "victim@corp.example"
	attackerPassword := "attacker's password"
	wantStatus(t, b.browser(testBase).post("/signup", "display_name", "Evil", "subdomain", "evil", "email", victim, "password", attackerPassword), http.StatusOK)
	attacker, err := b.accounts.GetUserByEmail(t.Context(), victim)
	if err != nil {
		t.Fatal(err)
	}

	owner := b.browser(firstHost)
	owner.login(b.alice.Email)
	known := owner.post("/members", "email", victim, "role", "member")
	wantRedirect(t, known, "/members")
	knownPage := owner.get("/members")
	unknown := owner.post("/members", "email", "stranger@corp.example", "role", "member")
	unknownPage := owner.get("/members")
	wantSameAnswer(t, "adding a known vs an unknown address", known, unknown)
	// The pages after: the same message, and both addresses listed alike among the pending
	// invitations (the second page lists both by then).
	flashOf := func(rec *httptest.ResponseRecorder, email string) string {
		return strings.ReplaceAll(strings.Join(texts(parseHTML(t, rec), byClass("p", "flash")), "|"), email, "ADDRESS")
	}
	if k, u := flashOf(knownPage, victim), flashOf(unknownPage, "stranger@corp.example"); k != u || k == "" {
		t.Errorf("the message after adding a known vs an unknown address: %q vs %q", k, u)
	}
	rowOf := func(email string) string {
		for _, tr := range findAll(parseHTML(t, unknownPage), byClass("tr", "")) {
			// The address, the role and the action (the expiry, to the minute, may differ).
			if cells := texts(tr, byClass("td", "")); len(cells) == 4 && cells[0] == email {
				return strings.ReplaceAll(cells[0]+"|"+cells[1]+"|"+cells[3], email, "ADDRESS")
			}
		}
		return ""
	}
	if k, u := rowOf(victim), rowOf("stranger@corp.example"); k != u || k == "" {
		t.Errorf("the pending invitations of a known vs an unknown address: %q vs %q", k, u)
	}

	if _, err := b.accounts.Membership(t.Context(), attacker.ID, b.first.ID); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Fatalf("the unverified account is a member after the owner added its address: %v", err)
	}
	// Even holding the link (it went to the victim's mailbox), the attacker's account cannot
	// accept: its address is not verified.
	link := box.Wait(t, victim, "You were added").Link(t, "/invite?t=")
	token := tokenOf(t, link)
	att := b.browser(firstHost)
	rec := att.post("/invite", "t", token, "password", attackerPassword)
	wantStatus(t, rec, http.StatusForbidden)
	if _, err := b.accounts.Membership(t.Context(), attacker.ID, b.first.ID); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Fatalf("the unverified account joined with the invitation: %v", err)
	}
	wantStatus(t, att.get("/"), http.StatusSeeOther)

	// The real owner of the address resets the password (which proves the address) and accepts.
	wantStatus(t, b.browser(firstHost).post("/password/forgot", "email", victim), http.StatusOK)
	reset := box.Wait(t, victim, "Reset your Toodoo password").Link(t, "/password/reset?t=")
	real := b.browser(firstHost)
	// Not a member of first yet: the reset sets the password and sends them to sign in.
	wantRedirect(t, real.post("/password/reset", "t", tokenOf(t, reset), "new_password", "the victim's own", "confirm_password", "the victim's own"), "/login")
	wantStatus(t, real.post("/invite", "t", token, "password", "wrong password"), http.StatusUnauthorized)
	wantRedirect(t, real.post("/invite", "t", token, "password", "the victim's own"), "/")
	wantStatus(t, real.get("/"), http.StatusOK)
	if m, err := b.accounts.Membership(t.Context(), attacker.ID, b.first.ID); err != nil || m.Role != "member" {
		t.Fatalf("after accepting: %+v, %v", m, err)
	}
	wantStatus(t, b.browser(firstHost).post("/invite", "t", token, "password", "the victim's own"), http.StatusNotFound) // once

	// An invitation for one address cannot be accepted with another account's password.
	wantRedirect(t, owner.post("/members", "email", b.carol.Email, "role", "member"), "/members")
	carolLink := box.Wait(t, b.carol.Email, "You were added").Link(t, "/invite?t=")
	if page := b.browser(firstHost).get(follow(t, b.browser(firstHost), carolLink)); !strings.Contains(page.Body.String(), "Enter the password of your account") {
		t.Errorf("the invitation page of an existing account does not ask for its password")
	}
	wantStatus(t, b.browser(firstHost).post("/invite", "t", tokenOf(t, carolLink), "password", "the victim's own"), http.StatusUnauthorized)
}
