package account_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// cheap are argon2id costs that keep tests fast; the real costs are tested in TestPassword.
var cheap = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type bundle struct {
	db  *tenancy.DB
	svc *account.Service
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db := testfactory.DB(t.Context(), t, dbtest.URL(t))
	svc := account.New(db)
	svc.Params = cheap
	return &bundle{db: db, svc: svc}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := toodoo.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func wantMessage(t *testing.T, err error, code, message string) {
	t.Helper()
	wantCode(t, err, code)
	if got := toodoo.ErrorMessage(err); got != message {
		t.Fatalf("message = %q, want %q", got, message)
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	p := account.DefaultParams
	hash, err := p.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(hash) {
		t.Fatalf("hash %q is not the expected PHC string", hash)
	}
	if ok, err := account.VerifyPassword("correct horse", hash); err != nil || !ok {
		t.Fatalf("VerifyPassword(right) = %t, %v", ok, err)
	}
	if ok, err := account.VerifyPassword("correct horsf", hash); err != nil || ok {
		t.Fatalf("VerifyPassword(wrong) = %t, %v", ok, err)
	}
	again, _ := p.Hash("correct horse")
	if again == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	if p.NeedsRehash(hash) {
		t.Fatal("NeedsRehash(fresh hash) = true")
	}
	if !cheap.NeedsRehash(hash) || !p.NeedsRehash("$2a$10$bcrypt") {
		t.Fatal("NeedsRehash(other params / other scheme) = false")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, err := account.VerifyPassword("x", bad); err == nil || ok {
			t.Errorf("VerifyPassword(%q) = %t, %v; want an error", bad, ok, err)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		pw   string
		want string // "" = valid
	}{
		{"", "The password is too short: at least 8 characters."},
		{"1234567", "The password is too short: at least 8 characters."},
		{"12345678", ""},
		{"ééééééé", "The password is too short: at least 8 characters."}, // 14 bytes, 7 characters
		{strings.Repeat("a", 1024), ""},
		{strings.Repeat("a", 1025), "The password is too long: at most 1024 bytes."},
	} {
		err := account.ValidatePassword(test.pw)
		if got := toodoo.ErrorMessage(err); (err == nil) != (test.want == "") || (err != nil && got != test.want) {
			t.Errorf("ValidatePassword(%d bytes) = %v, want %q", len(test.pw), err, test.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		in, want string
		ok       bool
	}{
		{"  Ann@Example.com ", "Ann@Example.com", true},
		{"a@b.c", "a@b.c", true},
		{"ann@x", "", false},
		{"ann@x.", "", false},
		{"ann@.x", "", false},
		{"ann@x..y", "", false},
		{"", "", false},
		{"ann", "", false},
		{"@example.com", "", false},
		{"ann@", "", false},
		{"an n@example.com", "", false},
		{strings.Repeat("a", 251) + "@b.c", "", false},
	} {
		got, err := account.NormalizeEmail(test.in)
		if (err == nil) != test.ok || got != test.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, ok %t", test.in, got, err, test.want, test.ok)
		}
		if err != nil {
			wantCode(t, err, toodoo.EINVALID)
		}
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	ann, err := b.svc.CreateUser(ctx, " Ann@Example.com ", "correct horse", true)
	if err != nil {
		t.Fatal(err)
	}
	if ann.Email != "Ann@Example.com" || !ann.IsSuperuser || ann.ID == 0 {
		t.Fatalf("CreateUser = %+v", ann)
	}

	t.Run("EmailUniqueWithoutRegardToCase", func(t *testing.T) {
		_, err := b.svc.CreateUser(ctx, "ann@EXAMPLE.com", "another password", false)
		wantMessage(t, err, toodoo.ECONFLICT, "A user with this email exists already.")
	})
	t.Run("Rules", func(t *testing.T) {
		_, err := b.svc.CreateUser(ctx, "bob@example.com", "short", false)
		wantMessage(t, err, toodoo.EINVALID, "The password is too short: at least 8 characters.")
		_, err = b.svc.CreateUser(ctx, "bob", "long enough", false)
		wantCode(t, err, toodoo.EINVALID)
	})
	t.Run("Authenticate", func(t *testing.T) {
		u, err := b.svc.Authenticate(ctx, "ANN@example.com", "correct horse")
		if err != nil || u.ID != ann.ID {
			t.Fatalf("Authenticate(right) = %+v, %v", u, err)
		}
		_, err = b.svc.Authenticate(ctx, "ann@example.com", "correct horsE")
		wantMessage(t, err, toodoo.EUNAUTHORIZED, "Wrong email or password.")
		_, err = b.svc.Authenticate(ctx, "nobody@example.com", "correct horse")
		wantMessage(t, err, toodoo.EUNAUTHORIZED, "Wrong email or password.")
		_, err = b.svc.Authenticate(ctx, "ann@example.com", strings.Repeat("x", 5000))
		wantMessage(t, err, toodoo.EUNAUTHORIZED, "Wrong email or password.")
	})
	t.Run("GetUser", func(t *testing.T) {
		u, err := b.svc.GetUser(ctx, ann.ID)
		if err != nil || u.Email != ann.Email {
			t.Fatalf("GetUser = %+v, %v", u, err)
		}
		_, err = b.svc.GetUser(ctx, -1)
		wantCode(t, err, toodoo.ENOTFOUND)
		_, err = b.svc.GetUserByEmail(ctx, "zed@example.com")
		wantMessage(t, err, toodoo.ENOTFOUND, "No user with email zed@example.com.")
	})
}

// TestSetPassword: the new password replaces the old one (see TestSetPasswordEndsSessions for
// what else it ends).
func TestSetPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "carol@example.com"})

	_, err := b.svc.SetPassword(ctx, u.ID, "1234567")
	wantCode(t, err, toodoo.EINVALID)
	changed, err := b.svc.SetPassword(ctx, u.ID, "new password")
	if err != nil {
		t.Fatal(err)
	}
	if changed.ID != u.ID || changed.Email != u.Email {
		t.Fatalf("SetPassword returned %+v for %+v", changed, u)
	}
	if _, err := b.svc.Authenticate(ctx, u.Email, testfactory.DefaultPassword); toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
		t.Fatalf("old password still works: %v", err)
	}
	if _, err := b.svc.Authenticate(ctx, u.Email, "new password"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	_, err = b.svc.SetPassword(ctx, -1, "new password")
	wantCode(t, err, toodoo.ENOTFOUND)
}

func TestRehashOnLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "dave@example.com"}) // hashed with cheap params

	stored := func() string {
		var h string
		if err := b.db.Pool().QueryRow(ctx, "SELECT password_hash FROM public.users WHERE id = $1", u.ID).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := stored()
	secret, err := b.svc.StartSession(ctx, u.ID, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	stronger := cheap
	stronger.Time = 2
	if !stronger.NeedsRehash(before) {
		t.Fatal("NeedsRehash = false for weaker stored hash")
	}
	b.svc.Params = stronger // not parallel with other uses of this bundle
	if _, err := b.svc.Authenticate(ctx, "dave@example.com", testfactory.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	after := stored()
	if after == before || stronger.NeedsRehash(after) || !strings.Contains(after, ",t=2,") {
		t.Fatalf("hash not upgraded: before %q after %q", before, after)
	}
	if _, err := b.svc.AuthenticateSession(ctx, 0, secret); err != nil {
		t.Fatalf("a rehash ended the sessions: %v", err)
	}
	if _, err := b.svc.Authenticate(ctx, "dave@example.com", testfactory.DefaultPassword); err != nil {
		t.Fatalf("after rehash: %v", err)
	}
}

func TestMemberships(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	tn := testfactory.Tenant(ctx, t, b.db, nil)
	ann, bob := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "ann@example.com"}), testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "bob@example.com"})

	_, err := b.svc.AddMember(ctx, tn.ID, "nobody@example.com", account.RoleMember)
	wantMessage(t, err, toodoo.ENOTFOUND, "No user with email nobody@example.com.")
	_, err = b.svc.AddMember(ctx, tn.ID, "ann@example.com", "admin")
	wantCode(t, err, toodoo.EINVALID)
	_, err = b.svc.AddMember(ctx, -1, "ann@example.com", account.RoleOwner)
	wantCode(t, err, toodoo.ENOTFOUND)

	if _, err := b.svc.AddMember(ctx, tn.ID, "ANN@example.com", account.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.AddMember(ctx, tn.ID, "bob@example.com", account.RoleMember); err != nil {
		t.Fatal(err)
	}
	m, err := b.svc.Membership(ctx, ann.ID, tn.ID)
	if err != nil || m.Role != account.RoleOwner {
		t.Fatalf("Membership(ann) = %+v, %v", m, err)
	}
	other := testfactory.Tenant(ctx, t, b.db, nil)
	_, err = b.svc.Membership(ctx, ann.ID, other.ID)
	wantCode(t, err, toodoo.ENOTFOUND)

	lastOwner := "A workspace cannot lose its last owner: make someone else an owner first."
	wantMessage(t, b.svc.RemoveMember(ctx, tn.ID, ann.ID), toodoo.EINVALID, lastOwner)
	wantMessage(t, b.svc.ChangeRole(ctx, tn.ID, ann.ID, account.RoleMember), toodoo.EINVALID, lastOwner)
	_, err = b.svc.AddMember(ctx, tn.ID, "ann@example.com", account.RoleMember) // demotion by re-adding
	wantMessage(t, err, toodoo.EINVALID, lastOwner)
	wantCode(t, b.svc.ChangeRole(ctx, tn.ID, ann.ID, "boss"), toodoo.EINVALID)
	wantCode(t, b.svc.RemoveMember(ctx, other.ID, ann.ID), toodoo.ENOTFOUND)

	// With a second owner, the first may go.
	if err := b.svc.ChangeRole(ctx, tn.ID, bob.ID, account.RoleOwner); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.RemoveMember(ctx, tn.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	members, err := b.svc.ListMembers(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Email != "bob@example.com" || members[0].Role != account.RoleOwner {
		t.Fatalf("ListMembers = %+v", members)
	}
	wantMessage(t, b.svc.RemoveMember(ctx, tn.ID, bob.ID), toodoo.EINVALID, lastOwner)

	// A deleted workspace takes no members.
	if err := b.db.Delete(ctx, other.Schema, false); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.AddMember(ctx, other.ID, "ann@example.com", account.RoleOwner)
	wantCode(t, err, toodoo.ENOTFOUND)
}

// Two owners demoting each other at the same moment: the tenant lock lets exactly one win.
func TestLastOwnerConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	for round := range 5 {
		tn := testfactory.Tenant(ctx, t, b.db, nil)
		var ids [2]int64
		for i := range ids {
			u := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: fmt.Sprintf("owner%d-%d@example.com", round, i)})
			testfactory.Member(ctx, t, b.svc, tn, u, &testfactory.MemberOpts{Role: account.RoleOwner})
			ids[i] = u.ID
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range ids {
			wg.Go(func() {
				if i == 0 {
					errs[i] = b.svc.ChangeRole(ctx, tn.ID, ids[i], account.RoleMember)
				} else {
					errs[i] = b.svc.RemoveMember(ctx, tn.ID, ids[i])
				}
			})
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: errors %v and %v; want exactly one refusal", round, errs[0], errs[1])
		}
		var owners int
		if err := b.db.Pool().QueryRow(ctx, "SELECT count(*) FROM public.memberships WHERE tenant_id = $1 AND role = 'owner'", tn.ID).Scan(&owners); err != nil {
			t.Fatal(err)
		}
		if owners != 1 {
			t.Fatalf("round %d: %d owners left", round, owners)
		}
	}
}

func TestLoginToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	first, second := testfactory.Tenant(ctx, t, b.db, nil), testfactory.Tenant(ctx, t, b.db, nil)
	u := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "erin@example.com"})

	token, err := b.svc.IssueLoginToken(ctx, u.ID, first.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 {
		t.Fatalf("token %q: want 43 characters of base64url", token)
	}
	bad := "This sign-in link is invalid or has expired. Please sign in."
	_, err = b.svc.ConsumeLoginToken(ctx, second.ID, token) // another host
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)
	id, err := b.svc.ConsumeLoginToken(ctx, first.ID, token)
	if err != nil || id != u.ID {
		t.Fatalf("ConsumeLoginToken = %d, %v; want %d", id, err, u.ID)
	}
	_, err = b.svc.ConsumeLoginToken(ctx, first.ID, token) // reuse
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)
	_, err = b.svc.ConsumeLoginToken(ctx, first.ID, "")
	wantCode(t, err, toodoo.EUNAUTHORIZED)

	// A token for the public site (tenant 0, the workspace menu's "All workspaces") is spent
	// there only, and a workspace's token is not good there.
	public, err := b.svc.IssueLoginToken(ctx, u.ID, 0, account.SwitchTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.ConsumeLoginToken(ctx, first.ID, public)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if id, err := b.svc.CheckLoginToken(ctx, 0, public); err != nil || id != u.ID {
		t.Fatalf("CheckLoginToken(public) = %d, %v; want %d", id, err, u.ID)
	}
	if id, err := b.svc.ConsumeLoginToken(ctx, 0, public); err != nil || id != u.ID {
		t.Fatalf("ConsumeLoginToken(public) = %d, %v; want %d", id, err, u.ID)
	}
	_, err = b.svc.ConsumeLoginToken(ctx, 0, public) // reuse
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	other, err := b.svc.IssueLoginToken(ctx, u.ID, second.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.ConsumeLoginToken(ctx, 0, other)
	wantCode(t, err, toodoo.EUNAUTHORIZED)

	// Only the hash is stored.
	var n int
	if err := b.db.Pool().QueryRow(ctx, "SELECT count(*) FROM public.login_tokens WHERE token_hash = convert_to($1, 'UTF8')", token).Scan(&n); err != nil || n != 0 {
		t.Fatalf("token stored in clear: %d, %v", n, err)
	}

	// Expired.
	expired, err := b.svc.IssueLoginToken(ctx, u.ID, first.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool().Exec(ctx, "UPDATE public.login_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL"); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.ConsumeLoginToken(ctx, first.ID, expired)
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)
}

// Sign-up issues the token inside tenancy.Create's transaction; if the creation fails, so does it.
func TestSignupInsideCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var token string
	tn, err := b.db.Create(ctx, schemadef.MustDefault(), tenancy.CreateParams{
		Name: "signup", Domain: "signup.example.test",
		Then: func(ctx context.Context, tx *tenancy.Tx, tn tenancy.Tenant) error {
			u, err := b.svc.CreateUserTx(ctx, tx, "frank@example.com", "correct horse", false)
			if err != nil {
				return err
			}
			if err := account.AddMemberTx(ctx, tx, tn.ID, u.ID, account.RoleOwner); err != nil {
				return err
			}
			token, err = account.IssueLoginTokenTx(ctx, tx, u.ID, tn.ID, 0)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.svc.ConsumeLoginToken(ctx, tn.ID, token)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := b.svc.Membership(ctx, id, tn.ID); err != nil || m.Role != account.RoleOwner {
		t.Fatalf("Membership = %+v, %v", m, err)
	}

	// A taken email undoes the whole tenant.
	_, err = b.db.Create(ctx, schemadef.MustDefault(), tenancy.CreateParams{
		Name: "signup2", Domain: "signup2.example.test",
		Then: func(ctx context.Context, tx *tenancy.Tx, tn tenancy.Tenant) error {
			_, err := b.svc.CreateUserTx(ctx, tx, "FRANK@example.com", "correct horse", false)
			return err
		},
	})
	wantMessage(t, err, toodoo.ECONFLICT, "A user with this email exists already.")
	if _, err := b.db.Get(ctx, "signup2"); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Fatalf("tenant survived a failed sign-up: %v", err)
	}
}

func TestInvitations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	tn, other := testfactory.Tenant(ctx, t, b.db, nil), testfactory.Tenant(ctx, t, b.db, nil)
	owner := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "grace@example.com"})

	_, err := b.svc.CreateInvitation(ctx, tn.ID, "GRACE@example.com", account.RoleMember, owner.ID)
	wantCode(t, err, toodoo.ECONFLICT)
	_, err = b.svc.CreateInvitation(ctx, tn.ID, "heidi@example.com", "king", owner.ID)
	wantCode(t, err, toodoo.EINVALID)

	token, err := b.svc.CreateInvitation(ctx, tn.ID, "heidi@example.com", account.RoleOwner, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := b.svc.GetInvitation(ctx, tn.ID, token)
	if err != nil || inv.Email != "heidi@example.com" || inv.Role != account.RoleOwner {
		t.Fatalf("GetInvitation = %+v, %v", inv, err)
	}
	_, err = b.svc.GetInvitation(ctx, other.ID, token)
	wantCode(t, err, toodoo.ENOTFOUND)
	_, _, err = b.svc.AcceptInvitation(ctx, other.ID, token, "heidi's password")
	wantCode(t, err, toodoo.ENOTFOUND)
	_, _, err = b.svc.AcceptInvitation(ctx, tn.ID, token, "short")
	wantCode(t, err, toodoo.EINVALID)

	u, m, err := b.svc.AcceptInvitation(ctx, tn.ID, token, "heidi's password")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "heidi@example.com" || m.Role != account.RoleOwner || m.TenantID != tn.ID {
		t.Fatalf("AcceptInvitation = %+v, %+v", u, m)
	}
	if _, err := b.svc.Authenticate(ctx, "heidi@example.com", "heidi's password"); err != nil {
		t.Fatal(err)
	}
	_, _, err = b.svc.AcceptInvitation(ctx, tn.ID, token, "heidi's password")
	wantCode(t, err, toodoo.ENOTFOUND)

	// If the email got an account meanwhile, nothing is spent or created.
	token2, err := b.svc.CreateInvitation(ctx, tn.ID, "ivan@example.com", account.RoleMember, 0)
	if err != nil {
		t.Fatal(err)
	}
	testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "Ivan@example.com"})
	_, _, err = b.svc.AcceptInvitation(ctx, tn.ID, token2, "ivan's password")
	wantCode(t, err, toodoo.ECONFLICT)
	if _, err := b.svc.GetInvitation(ctx, tn.ID, token2); err != nil {
		t.Fatalf("a failed acceptance spent the invitation: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	tn, other := testfactory.Tenant(ctx, t, b.db, nil), testfactory.Tenant(ctx, t, b.db, nil)
	judy := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "judy@example.com"})
	testfactory.Member(ctx, t, b.svc, tn, judy, &testfactory.MemberOpts{Role: account.RoleMember})
	testfactory.Member(ctx, t, b.svc, tn, testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "owner@example.com"}), &testfactory.MemberOpts{Role: account.RoleOwner})

	_, _, err := b.svc.CreateAPIToken(ctx, tn.ID, judy.ID, "  ")
	wantCode(t, err, toodoo.EINVALID)
	tok, secret, err := b.svc.CreateAPIToken(ctx, tn.ID, judy.ID, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^tdo_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("secret %q", secret)
	}

	u, err := b.svc.AuthenticateAPIToken(ctx, tn.ID, secret)
	if err != nil || u.ID != judy.ID {
		t.Fatalf("AuthenticateAPIToken = %+v, %v", u, err)
	}
	bad := "Invalid or revoked API token."
	_, err = b.svc.AuthenticateAPIToken(ctx, other.ID, secret)
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)
	_, err = b.svc.AuthenticateAPIToken(ctx, tn.ID, secret+"x")
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)
	_, err = b.svc.AuthenticateAPIToken(ctx, tn.ID, strings.TrimPrefix(secret, "tdo_"))
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)

	list, err := b.svc.ListAPITokens(ctx, tn.ID, judy.ID)
	if err != nil || len(list) != 1 || list[0].ID != tok.ID || list[0].LastUsedAt == nil {
		t.Fatalf("ListAPITokens = %+v, %v", list, err)
	}

	// Removing the member deletes the token; adding them back revives nothing.
	if err := b.svc.RemoveMember(ctx, tn.ID, judy.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.AuthenticateAPIToken(ctx, tn.ID, secret)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if _, err := b.svc.AddMember(ctx, tn.ID, judy.Email, account.RoleMember); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.AuthenticateAPIToken(ctx, tn.ID, secret)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if list, err := b.svc.ListAPITokens(ctx, tn.ID, judy.ID); err != nil || len(list) != 0 {
		t.Fatalf("after removal: tokens %+v, %v; want none", list, err)
	}
	tok, secret, err = b.svc.CreateAPIToken(ctx, tn.ID, judy.ID, "laptop")
	if err != nil {
		t.Fatal(err)
	}

	// Revocation: only by its owner, only once.
	wantCode(t, b.svc.RevokeAPIToken(ctx, tn.ID, judy.ID+1000, tok.ID), toodoo.ENOTFOUND)
	if err := b.svc.RevokeAPIToken(ctx, tn.ID, judy.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.svc.RevokeAPIToken(ctx, tn.ID, judy.ID, tok.ID), toodoo.ENOTFOUND)
	_, err = b.svc.AuthenticateAPIToken(ctx, tn.ID, secret)
	wantMessage(t, err, toodoo.EUNAUTHORIZED, bad)

	// A superuser's token works without a membership.
	root := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "root@example.com", Superuser: true})
	_, rootSecret, err := b.svc.CreateAPIToken(ctx, other.ID, root.ID, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := b.svc.AuthenticateAPIToken(ctx, other.ID, rootSecret); err != nil || !u.IsSuperuser {
		t.Fatalf("superuser token = %+v, %v", u, err)
	}
}

// The timing of a wrong email and a wrong password should be alike; benchmarks report, never assert.
func BenchmarkAuthenticate(b *testing.B) {
	svc := account.New(testfactory.DB(b.Context(), b, dbtest.URL(b)))
	testfactory.User(b.Context(), b, svc, &testfactory.UserOpts{Email: "bench@example.com"})
	for _, email := range []string{"bench@example.com", "unknown@example.com"} {
		b.Run(strings.Split(email, "@")[0], func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Authenticate(b.Context(), email, "wrong password"); toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := account.DefaultParams.Hash("correct horse"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAPITokenTouchedWhenStale: a token's last use moves on when it is over a minute old, and
// only then (a busy token costs its lookup and no write per request).
func TestAPITokenTouchedWhenStale(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	tn := testfactory.Tenant(ctx, t, b.db, nil)
	u := testfactory.User(ctx, t, b.svc, nil)
	testfactory.Member(ctx, t, b.svc, tn, u, nil)
	tok, secret, err := b.svc.CreateAPIToken(ctx, tn.ID, u.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	lastUsed := func() time.Time {
		t.Helper()
		var at time.Time
		if err := b.db.Pool().QueryRow(ctx, "SELECT last_used_at FROM public.api_tokens WHERE id = $1", tok.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	use := func() {
		t.Helper()
		if _, err := b.svc.AuthenticateAPIToken(ctx, tn.ID, secret); err != nil {
			t.Fatal(err)
		}
	}
	stale := time.Now().Add(-2 * time.Minute)
	if _, err := b.db.Pool().Exec(ctx, "UPDATE public.api_tokens SET last_used_at = $2 WHERE id = $1", tok.ID, stale); err != nil {
		t.Fatal(err)
	}
	use()
	fresh := lastUsed()
	if !fresh.After(stale.Add(time.Minute)) {
		t.Fatalf("last_used_at %v after using a token last used %v, want now", fresh, stale)
	}
	use()
	if got := lastUsed(); !got.Equal(fresh) {
		t.Errorf("last_used_at moved from %v to %v within a minute", fresh, got)
	}
}
