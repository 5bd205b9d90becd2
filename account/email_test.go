package account_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

// TestEmailTokens: a verification link is stored hashed, bound to its site, spent once, dead
// once expired; until it is used the account cannot sign in; a reset link proves the address
// too and ends the sessions, and an invitation is accepted only by its verified address.
func TestEmailTokens(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	ws := testfactory.Tenant(ctx, t, b.db, &testfactory.TenantOpts{Name: "acme"})
	var u account.User
	var token string
	err := b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		var err error
		u, token, err = b.svc.CreateUnverifiedUserTx(ctx, tx, "ann@example.com", "ann's password", ws.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := b.db.Pool().QueryRow(ctx, "SELECT token_hash FROM public.email_tokens WHERE user_id = $1", u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); string(stored) != string(sum[:]) {
		t.Error("the stored token is not the SHA-256 of the secret")
	}
	_, err = b.svc.Authenticate(ctx, "ann@example.com", "ann's password")
	wantCode(t, err, toodoo.EFORBIDDEN)
	_, err = b.svc.Authenticate(ctx, "ann@example.com", "wrong password")
	wantCode(t, err, toodoo.EUNAUTHORIZED) // no hint without the password

	_, err = b.svc.VerifyEmail(ctx, 0, token) // the public site: another site
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if email, err := b.svc.VerifyAddress(ctx, ws.ID, token); err != nil || email != "ann@example.com" {
		t.Fatalf("VerifyAddress = %q, %v", email, err)
	}
	// An invitation for ann cannot be accepted while her address is unverified.
	var inv string
	other := testfactory.Tenant(ctx, t, b.db, &testfactory.TenantOpts{Name: "other"})
	if err := b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		inv, err = account.InviteTx(ctx, tx, other.ID, "ANN@example.com", account.RoleMember, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.AcceptInvitationAs(ctx, other.ID, inv, u)
	wantCode(t, err, toodoo.EFORBIDDEN)

	verified, err := b.svc.VerifyEmail(ctx, ws.ID, token)
	if err != nil || !verified.EmailVerified || verified.ID != u.ID {
		t.Fatalf("VerifyEmail = %+v, %v", verified, err)
	}
	_, err = b.svc.VerifyEmail(ctx, ws.ID, token)
	wantCode(t, err, toodoo.EUNAUTHORIZED) // once
	if _, err := b.svc.Authenticate(ctx, "ann@example.com", "ann's password"); err != nil {
		t.Fatalf("Authenticate after verifying: %v", err)
	}

	// The refusals rolled back: the invitation is still good, for ann and nobody else.
	bob := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "bob@example.com"})
	_, err = b.svc.AcceptInvitationAs(ctx, other.ID, inv, bob)
	wantCode(t, err, toodoo.EFORBIDDEN)
	if m, err := b.svc.AcceptInvitationAs(ctx, other.ID, inv, verified); err != nil || m.Role != account.RoleMember {
		t.Fatalf("AcceptInvitationAs = %+v, %v", m, err)
	}
	_, err = b.svc.AcceptInvitationAs(ctx, other.ID, inv, verified)
	wantCode(t, err, toodoo.ENOTFOUND) // once

	// Reset: an expired link is dead; a live one sets the password and ends the sessions.
	issue := func() string {
		t.Helper()
		var tok string
		if err := b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
			_, tok, err = account.IssueResetTokenTx(ctx, tx, "Ann@Example.com", 0)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// As if a while ago: a second link within account.ResetEvery is not issued (below).
		if _, err := b.db.Pool().Exec(ctx, "UPDATE public.email_tokens SET created_at = now() - interval '1 hour' WHERE token_hash = $1", sha(tok)); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired := issue()
	if _, err := b.db.Pool().Exec(ctx, "UPDATE public.email_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1", sha(expired)); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.ResetPassword(ctx, 0, expired, "a new password")
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	live, spare := issue(), issue()
	_, err = b.svc.ResetPassword(ctx, 0, live, "short")
	wantCode(t, err, toodoo.EINVALID)
	session, err := b.svc.StartSession(ctx, verified.ID, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if after, err := b.svc.ResetPassword(ctx, 0, live, "a new password"); err != nil || after.ID != verified.ID {
		t.Fatalf("ResetPassword = %+v, %v; want user %d", after, err, verified.ID)
	}
	if _, err := b.svc.AuthenticateSession(ctx, 0, session); err == nil {
		t.Fatal("a session opened before the reset still works")
	}
	_, err = b.svc.ResetPassword(ctx, 0, spare, "yet another one")
	wantCode(t, err, toodoo.EUNAUTHORIZED) // a new password spends the other links
	// Within ResetEvery of a link, no other is issued (however often it is asked for).
	var again error
	if err := b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		_, _, err := account.IssueResetTokenTx(ctx, tx, "ann@example.com", 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		_, _, again = account.IssueResetTokenTx(ctx, tx, "ann@example.com", 0)
		return nil
	})
	wantCode(t, again, toodoo.ENOTFOUND)
	var nobody error
	_ = b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		_, _, nobody = account.IssueResetTokenTx(ctx, tx, "nobody@example.com", 0)
		return nil
	})
	wantCode(t, nobody, toodoo.ENOTFOUND)
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
