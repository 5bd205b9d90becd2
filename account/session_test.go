package account_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

// TestSessions: a session works on the host it was started on, until it is ended one way or
// another; only the hash of its secret is stored.
func TestSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	first, second := testfactory.Tenant(ctx, t, b.db, nil), testfactory.Tenant(ctx, t, b.db, nil)
	ann := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "ann@example.com"})
	bea := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "bea@example.com"})
	testfactory.Member(ctx, t, b.svc, first, ann, &testfactory.MemberOpts{Role: account.RoleOwner})

	here, err := b.svc.StartSession(ctx, ann.ID, first.ID, "Firefox\x00\n  on Linux"+strings.Repeat("x", 500))
	if err != nil {
		t.Fatal(err)
	}
	su, err := b.svc.AuthenticateSession(ctx, first.ID, here)
	if err != nil || su.ID != ann.ID || su.Role != account.RoleOwner || su.SessionID == 0 {
		t.Fatalf("AuthenticateSession = %+v, %v", su, err)
	}
	// Bound to its host: not on another workspace, not on the public site.
	for _, tid := range []int64{second.ID, 0} {
		_, err := b.svc.AuthenticateSession(ctx, tid, here)
		wantCode(t, err, toodoo.EUNAUTHORIZED)
	}
	for _, bad := range []string{"", "x", here + "x", strings.Repeat("a", 5000)} {
		_, err := b.svc.AuthenticateSession(ctx, first.ID, bad)
		wantCode(t, err, toodoo.EUNAUTHORIZED)
	}
	var n int
	if err := b.db.Pool().QueryRow(ctx, "SELECT count(*) FROM public.sessions WHERE token_hash = convert_to($1, 'UTF8')", here).Scan(&n); err != nil || n != 0 {
		t.Fatalf("session id stored in clear: %d, %v", n, err)
	}

	pub, err := b.svc.StartSession(ctx, ann.ID, 0, "curl")
	if err != nil {
		t.Fatal(err)
	}
	if su, err := b.svc.AuthenticateSession(ctx, 0, pub); err != nil || su.Role != "" {
		t.Fatalf("public-site session = %+v, %v", su, err)
	}
	beas, err := b.svc.StartSession(ctx, bea.ID, first.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if su, err := b.svc.AuthenticateSession(ctx, first.ID, beas); err != nil || su.Role != "" {
		t.Fatalf("a non-member's session = %+v, %v (want it, with no role)", su, err)
	}

	list, err := b.svc.ListSessions(ctx, ann.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListSessions = %+v, %v", list, err)
	}
	if list[0].TenantID != 0 || list[0].UserAgent != "curl" || list[1].TenantID != first.ID || list[1].Workspace != first.DisplayName {
		t.Fatalf("ListSessions = %+v", list)
	}
	if ua := list[1].UserAgent; !strings.HasPrefix(ua, "Firefox on Linux") || len([]rune(ua)) > 200 {
		t.Fatalf("user agent kept as %q", ua)
	}

	// One session by id: only its user's.
	wantCode(t, b.svc.EndSessionByID(ctx, bea.ID, list[0].ID), toodoo.ENOTFOUND)
	if err := b.svc.EndSessionByID(ctx, ann.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.AuthenticateSession(ctx, 0, pub)
	wantCode(t, err, toodoo.EUNAUTHORIZED)

	// Logout.
	if err := b.svc.EndSession(ctx, here); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.AuthenticateSession(ctx, first.ID, here)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if err := b.svc.EndSession(ctx, here); err != nil { // twice is fine
		t.Fatal(err)
	}

	// Everywhere: all of ann's, none of bea's.
	for range 3 {
		if _, err := b.svc.StartSession(ctx, ann.ID, first.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.svc.EndAllSessions(ctx, ann.ID); err != nil || n != 3 {
		t.Fatalf("EndAllSessions = %d, %v; want 3", n, err)
	}
	if list, _ := b.svc.ListSessions(ctx, ann.ID); len(list) != 0 {
		t.Fatalf("sessions left: %+v", list)
	}
	if _, err := b.svc.AuthenticateSession(ctx, first.ID, beas); err != nil {
		t.Fatalf("bea's session ended with ann's: %v", err)
	}

	// A session for a user who does not exist.
	_, err = b.svc.StartSession(ctx, ann.ID+bea.ID+1000, first.ID, "")
	wantCode(t, err, toodoo.ENOTFOUND)
}

// TestSessionExpiry: an expired session is refused at once and its row purged later; the last
// seen time moves on only when it is a minute old.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u := testfactory.User(ctx, t, b.svc, nil)
	old, err := b.svc.StartSession(ctx, u.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	live, err := b.svc.StartSession(ctx, u.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := b.svc.ListSessions(ctx, u.ID)
	oldID := list[1].ID // the older one comes last
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.db.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("UPDATE public.sessions SET expires_at = now() - interval '1 second' WHERE id = $1", oldID)
	_, err = b.svc.AuthenticateSession(ctx, 0, old)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if list, _ := b.svc.ListSessions(ctx, u.ID); len(list) != 1 {
		t.Fatalf("the list shows an expired session: %+v", list)
	}
	if n, err := b.svc.PurgeExpiredSessions(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredSessions = %d, %v; want 1", n, err)
	}
	count := func() (n int) {
		t.Helper()
		if err := b.db.Pool().QueryRow(ctx, "SELECT count(*) FROM public.sessions").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("%d rows after the purge, want 1", n)
	}

	lastSeen := func() (s string) {
		t.Helper()
		if err := b.db.Pool().QueryRow(ctx, "SELECT last_seen_at::text FROM public.sessions").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := lastSeen()
	if _, err := b.svc.AuthenticateSession(ctx, 0, live); err != nil {
		t.Fatal(err)
	}
	if lastSeen() != before {
		t.Fatal("a request within the minute moved last_seen_at")
	}
	exec("UPDATE public.sessions SET last_seen_at = now() - interval '2 minutes'")
	stale := lastSeen()
	if _, err := b.svc.AuthenticateSession(ctx, 0, live); err != nil {
		t.Fatal(err)
	}
	if lastSeen() == stale {
		t.Fatal("last_seen_at two minutes old did not move on")
	}
}

// TestSetPasswordEndsSessions: a new password ends every session of the user on every host and
// revokes their API tokens on every workspace; other users keep theirs.
func TestSetPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	tn, other := testfactory.Tenant(ctx, t, b.db, nil), testfactory.Tenant(ctx, t, b.db, nil)
	ann := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "ann@example.com"})
	bea := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "bea@example.com"})
	for _, u := range []account.User{ann, bea} {
		testfactory.Member(ctx, t, b.svc, tn, u, &testfactory.MemberOpts{Role: account.RoleOwner})
		testfactory.Member(ctx, t, b.svc, other, u, &testfactory.MemberOpts{Role: account.RoleOwner})
	}
	start := func(u account.User, tid int64) string {
		t.Helper()
		s, err := b.svc.StartSession(ctx, u.ID, tid, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	token := func(u account.User, tid int64) string {
		t.Helper()
		_, s, err := b.svc.CreateAPIToken(ctx, tid, u.ID, "script")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	annHere, annThere, annPub, beaHere := start(ann, tn.ID), start(ann, other.ID), start(ann, 0), start(bea, tn.ID)
	annTok, annTok2, beaTok := token(ann, tn.ID), token(ann, other.ID), token(bea, tn.ID)

	if _, err := b.svc.SetPassword(ctx, ann.ID, "a new password"); err != nil {
		t.Fatal(err)
	}
	for tid, s := range map[int64]string{tn.ID: annHere, other.ID: annThere, 0: annPub} {
		_, err := b.svc.AuthenticateSession(ctx, tid, s)
		wantCode(t, err, toodoo.EUNAUTHORIZED)
	}
	for tid, s := range map[int64]string{tn.ID: annTok, other.ID: annTok2} {
		_, err := b.svc.AuthenticateAPIToken(ctx, tid, s)
		wantCode(t, err, toodoo.EUNAUTHORIZED)
	}
	if _, err := b.svc.AuthenticateSession(ctx, tn.ID, beaHere); err != nil {
		t.Fatalf("bea's session: %v", err)
	}
	if _, err := b.svc.AuthenticateAPIToken(ctx, tn.ID, beaTok); err != nil {
		t.Fatalf("bea's token: %v", err)
	}
}

// TestRemoveMemberEndsAccess: removing a member deletes their API tokens and ends their
// sessions on that workspace only; adding them back revives neither.
func TestRemoveMemberEndsAccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	tn, other := testfactory.Tenant(ctx, t, b.db, nil), testfactory.Tenant(ctx, t, b.db, nil)
	owner := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "owner@example.com"})
	ann := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "ann@example.com"})
	testfactory.Member(ctx, t, b.svc, tn, owner, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Member(ctx, t, b.svc, tn, ann, &testfactory.MemberOpts{Role: account.RoleMember})
	testfactory.Member(ctx, t, b.svc, other, ann, &testfactory.MemberOpts{Role: account.RoleOwner})
	here, _ := b.svc.StartSession(ctx, ann.ID, tn.ID, "")
	there, _ := b.svc.StartSession(ctx, ann.ID, other.ID, "")
	_, tok, _ := b.svc.CreateAPIToken(ctx, tn.ID, ann.ID, "script")
	_, tok2, _ := b.svc.CreateAPIToken(ctx, other.ID, ann.ID, "script")

	if err := b.svc.RemoveMember(ctx, tn.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.AddMember(ctx, tn.ID, ann.Email, account.RoleMember); err != nil {
		t.Fatal(err)
	}
	_, err := b.svc.AuthenticateSession(ctx, tn.ID, here)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	_, err = b.svc.AuthenticateAPIToken(ctx, tn.ID, tok)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if _, err := b.svc.AuthenticateSession(ctx, other.ID, there); err != nil {
		t.Fatalf("the session on the other workspace: %v", err)
	}
	if _, err := b.svc.AuthenticateAPIToken(ctx, other.ID, tok2); err != nil {
		t.Fatalf("the token on the other workspace: %v", err)
	}
}

// oldMenuSQL is the workspace menu's query as it was before the menu came with the session's
// statement (MembershipMenuByUser): AuthenticateSessionMenu must give the same menu.
const oldMenuSQL = `
WITH mine AS (
    SELECT t.id, t.display_name, m.role
    FROM public.memberships m
    JOIN public.tenants t ON t.id = m.tenant_id
    JOIN public.domains d ON d.tenant_id = t.id AND d.is_primary
    WHERE m.user_id = $1 AND t.status = 'active'
), shown AS (
    (SELECT * FROM mine ORDER BY display_name, id LIMIT $3::bigint)
    UNION
    SELECT * FROM mine WHERE id = $2::bigint
)
SELECT s.id, s.display_name, s.role, (SELECT count(*) FROM mine)::bigint AS total
FROM shown s
ORDER BY s.display_name, s.id`

// TestSessionMenu: the session's statement brings the workspace menu (the first by name, the
// current one wherever it falls, the count of all; only active workspaces with a primary
// domain) exactly as the menu's own query did, and refuses the same sessions as without it.
func TestSessionMenu(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	ann := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "ann@example.com"})
	bea := testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "bea@example.com"})
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.db.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	var all []tenancy.Tenant
	for i := range 14 {
		// Names out of creation order, two alike (the id breaks the tie).
		tn := testfactory.Tenant(ctx, t, b.db, &testfactory.TenantOpts{DisplayName: fmt.Sprintf("Team %02d", (i*5)%14/2)})
		testfactory.Member(ctx, t, b.svc, tn, ann, &testfactory.MemberOpts{Role: []string{account.RoleOwner, account.RoleMember}[i%2]})
		all = append(all, tn)
	}
	exec("UPDATE public.tenants SET status = 'suspended' WHERE id = $1", all[1].ID)
	exec("UPDATE public.tenants SET status = 'deleted' WHERE id = $1", all[2].ID)
	exec("UPDATE public.domains SET is_primary = false WHERE tenant_id = $1", all[3].ID)
	last := all[11] // the second "Team 06", last by name: outside the first ten
	beas := testfactory.Tenant(ctx, t, b.db, &testfactory.TenantOpts{DisplayName: "AAA Bea's"})
	testfactory.Member(ctx, t, b.svc, beas, bea, nil)

	old := func(userID, current int64, max int) (account.Menu, error) {
		rows, err := b.db.Pool().Query(ctx, oldMenuSQL, userID, current, max)
		if err != nil {
			return account.Menu{}, err
		}
		defer rows.Close()
		m := account.Menu{Workspaces: []account.Workspace{}}
		for rows.Next() {
			var ws account.Workspace
			var total int64
			if err := rows.Scan(&ws.TenantID, &ws.DisplayName, &ws.Role, &total); err != nil {
				return m, err
			}
			ws.Status = tenancy.StatusActive
			m.Workspaces, m.Total = append(m.Workspaces, ws), int(total)
		}
		return m, rows.Err()
	}
	for _, c := range []struct {
		name    string
		user    account.User
		current int64
		max     int
		entries int
	}{
		{"current beyond the first ten", ann, last.ID, 10, 11},
		{"current among them", ann, all[0].ID, 10, 10},
		{"public site", ann, 0, 10, 10},
		{"a suspended current one", ann, all[1].ID, 10, 10},
		{"someone else's workspace", ann, beas.ID, 10, 10},
		{"more room than workspaces", ann, last.ID, 50, 11},
		{"a single one", bea, beas.ID, 10, 1},
		{"her one, elsewhere", bea, all[0].ID, 10, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			secret, err := b.svc.StartSession(ctx, c.user.ID, c.current, "")
			if err != nil {
				t.Fatal(err)
			}
			su, got, err := b.svc.AuthenticateSessionMenu(ctx, c.current, secret, c.max)
			if err != nil || su.ID != c.user.ID {
				t.Fatalf("AuthenticateSessionMenu = %+v, %v", su, err)
			}
			want, err := old(c.user.ID, c.current, c.max)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("menu =\n%+v\nbefore:\n%+v", got, want)
			}
			if len(got.Workspaces) != c.entries {
				t.Fatalf("%d entries, want %d: %+v", len(got.Workspaces), c.entries, got)
			}
			plain, err := b.svc.AuthenticateSession(ctx, c.current, secret)
			if err != nil || plain != su {
				t.Fatalf("AuthenticateSession = %+v, %v; with the menu %+v", plain, err, su)
			}
		})
	}
	// 14 of ann's workspaces, less the suspended, the deleted and the one without a domain.
	secret, _ := b.svc.StartSession(ctx, ann.ID, last.ID, "")
	if _, m, _ := b.svc.AuthenticateSessionMenu(ctx, last.ID, secret, 10); m.Total != 11 {
		t.Fatalf("menu total = %d, want 11", m.Total)
	}
	// The role in the current workspace comes with it, as without the menu.
	if su, _, _ := b.svc.AuthenticateSessionMenu(ctx, last.ID, secret, 10); su.Role != account.RoleMember {
		t.Fatalf("role = %q, want member", su.Role)
	}

	// Refused as without the menu: another host, an unknown secret, an ended or expired session.
	for _, tid := range []int64{all[0].ID, 0} {
		_, _, err := b.svc.AuthenticateSessionMenu(ctx, tid, secret, 10)
		wantCode(t, err, toodoo.EUNAUTHORIZED)
	}
	_, _, err := b.svc.AuthenticateSessionMenu(ctx, last.ID, secret+"x", 10)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	expired, _ := b.svc.StartSession(ctx, ann.ID, last.ID, "")
	exec("UPDATE public.sessions SET expires_at = now() - interval '1 second' WHERE token_hash = sha256(convert_to($1, 'UTF8'))", expired)
	_, _, err = b.svc.AuthenticateSessionMenu(ctx, last.ID, expired, 10)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
	if err := b.svc.EndSession(ctx, secret); err != nil {
		t.Fatal(err)
	}
	_, _, err = b.svc.AuthenticateSessionMenu(ctx, last.ID, secret, 10)
	wantCode(t, err, toodoo.EUNAUTHORIZED)
}
