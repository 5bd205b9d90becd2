package testfactory_test

import (
	"testing"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The zero options make distinct rows, so a test can ask for several without naming them.
func TestDefaultsAreUnique(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testfactory.DB(ctx, t, dbtest.URL(t))
	svc := account.New(db)
	svc.Params = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

	t1, t2 := testfactory.Tenant(ctx, t, db, nil), testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{})
	if t1.Schema == t2.Schema || t1.Status != tenancy.StatusActive {
		t.Errorf("two default tenants: %+v and %+v", t1, t2)
	}
	u1, u2 := testfactory.User(ctx, t, svc, nil), testfactory.User(ctx, t, svc, nil)
	if u1.Email == u2.Email {
		t.Errorf("two default users share the email %q", u1.Email)
	}
	if _, err := svc.Authenticate(ctx, u1.Email, testfactory.DefaultPassword); err != nil {
		t.Errorf("a default user cannot sign in with DefaultPassword: %v", err)
	}
	if m := testfactory.Member(ctx, t, svc, t1, u1, nil); m.Role != account.RoleMember || m.UserID != u1.ID {
		t.Errorf("default membership = %+v, want %s of user %d", m, account.RoleMember, u1.ID)
	}
	d1, d2 := testfactory.Todo(ctx, t, db, t1, nil), testfactory.Todo(ctx, t, db, t1, nil)
	if d1.Title == d2.Title || d1.CreatedBy != 1 {
		t.Errorf("two default to-dos: %+v and %+v", d1, d2)
	}

	// Tenants keeps the order of its options.
	names := []string{"many_a", "many_b", "many_c", "many_d", "many_e"}
	opts := make([]*testfactory.TenantOpts, len(names))
	for i, name := range names {
		opts[i] = &testfactory.TenantOpts{Name: name}
	}
	for i, tn := range testfactory.Tenants(ctx, t, db, opts...) {
		if tn.Schema != names[i] {
			t.Errorf("Tenants()[%d] = %s, want %s", i, tn.Schema, names[i])
		}
	}
}
