// Package testfactory makes the rows that tests need (tenants, users, memberships, to-dos)
// through the application's own code paths, so a fixture is exactly what production would make.
// River's testfactory is the model: every function takes the test's context, the test, what to
// write through, and an options struct (or nil) whose zero value gives sensible defaults, unique
// within the test binary; every function fails the test on an error.
//
//	db := testfactory.DB(ctx, t, dbtest.URL(t))
//	tn := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first"})
//	todo := testfactory.Todo(ctx, t, db, tn, nil)
//
// Tests inside package tenancy or account (package tenancy, not tenancy_test) cannot use it: it
// imports both.
package testfactory

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// DefaultPassword is the password of users made without UserOpts.Password.
const DefaultPassword = "correct horse battery"

// seq numbers the defaults, so that two fixtures made without names never collide.
var seq atomic.Int64

// testAcquireTimeout is the pool's acquire timeout in tests, unless the URL sets one: 1 s (the
// production default) counts the dial and the authentication of a new connection too, and on a
// CI machine busy with browsers and other test binaries that has taken longer, so a test that was
// not about overload failed with "the service is busy" (e2e's TestAdminThousandTenants, its first
// statement). The tests about overload set pool_acquire_timeout themselves.
const testAcquireTimeout = "30s"

// DB opens a tenancy.DB on url (a URL from dbtest) that is closed when tb ends.
func DB(ctx context.Context, tb testing.TB, url string) *tenancy.DB {
	tb.Helper()
	if !strings.Contains(url, "pool_acquire_timeout=") {
		url = dbtest.WithParams(url, "pool_acquire_timeout="+testAcquireTimeout)
	}
	db, err := tenancy.Open(ctx, url)
	if err != nil {
		tb.Fatalf("tenancy.Open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// TenantOpts are the options of Tenant; every field is optional.
type TenantOpts struct {
	// Cold builds the schema from the template DDL even when a spare schema is ready.
	Cold bool

	// Def is the schema definition; default schemadef.MustDefault().
	Def *schemadef.Definition

	// DisplayName defaults to tenancy.Create's default (the name).
	DisplayName string

	// Domain is the primary domain; default the name, underscores turned into hyphens,
	// under example.test.
	Domain string

	// Name is the schema name; default a unique "tenant_N".
	Name string
}

// Tenant creates a tenant with tenancy.Create, the path operators and sign-up take, which also
// records the template's hash in the migrator's ledger.
func Tenant(ctx context.Context, tb testing.TB, db *tenancy.DB, opts *TenantOpts) tenancy.Tenant {
	tb.Helper()
	tn, err := createTenant(ctx, db, opts)
	if err != nil {
		tb.Fatalf("testfactory.Tenant: %v", err)
	}
	return tn
}

// Tenants creates one tenant per options value, four at a time (fleets of a thousand for the
// migrator's benchmarks), and returns them in the order of opts.
func Tenants(ctx context.Context, tb testing.TB, db *tenancy.DB, opts ...*TenantOpts) []tenancy.Tenant {
	tb.Helper()
	tenants := make([]tenancy.Tenant, len(opts))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, o := range opts {
		g.Go(func() (err error) {
			tenants[i], err = createTenant(ctx, db, o)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatalf("testfactory.Tenants: %v", err)
	}
	return tenants
}

func createTenant(ctx context.Context, db *tenancy.DB, opts *TenantOpts) (tenancy.Tenant, error) {
	if opts == nil {
		opts = &TenantOpts{}
	}
	name := cmp.Or(opts.Name, fmt.Sprintf("tenant_%d", seq.Add(1)))
	p := tenancy.CreateParams{
		Name:        name,
		DisplayName: opts.DisplayName,
		Domain:      cmp.Or(opts.Domain, strings.ReplaceAll(name, "_", "-")+".example.test"),
		Cold:        opts.Cold,
	}
	tn, err := db.Create(ctx, cmp.Or(opts.Def, schemadef.MustDefault()), p)
	if err != nil {
		return tenancy.Tenant{}, fmt.Errorf("create tenant %q: %w", name, err)
	}
	return tn, nil
}

// UserOpts are the options of User; every field is optional.
type UserOpts struct {
	// Email defaults to a unique "userN@example.com".
	Email string

	// Password defaults to DefaultPassword.
	Password string

	// Superuser makes a platform administrator.
	Superuser bool
}

// User creates a user with svc.CreateUser (so with svc's password hashing costs).
func User(ctx context.Context, tb testing.TB, svc *account.Service, opts *UserOpts) account.User {
	tb.Helper()
	if opts == nil {
		opts = &UserOpts{}
	}
	email := cmp.Or(opts.Email, fmt.Sprintf("user%d@example.com", seq.Add(1)))
	u, err := svc.CreateUser(ctx, email, cmp.Or(opts.Password, DefaultPassword), opts.Superuser)
	if err != nil {
		tb.Fatalf("testfactory.User(%q): %v", email, err)
	}
	return u
}

// MemberOpts are the options of Member; every field is optional.
type MemberOpts struct {
	// Role defaults to account.RoleMember.
	Role string
}

// Member gives u a role in tn with svc.AddMember.
func Member(ctx context.Context, tb testing.TB, svc *account.Service, tn tenancy.Tenant, u account.User, opts *MemberOpts) account.Member {
	tb.Helper()
	if opts == nil {
		opts = &MemberOpts{}
	}
	m, err := svc.AddMember(ctx, tn.ID, u.Email, cmp.Or(opts.Role, account.RoleMember))
	if err != nil {
		tb.Fatalf("testfactory.Member(%s in %s): %v", u.Email, tn.Schema, err)
	}
	return m
}

// TodoOpts are the options of Todo; every field is optional.
type TodoOpts struct {
	// CreatedBy is the creator's user id; default 1 (tenant schemas have no foreign key to
	// public.users).
	CreatedBy int64

	// Title defaults to a unique "to-do N".
	Title string
}

// Todo adds a to-do to tn through the tenant scope (tenancy.InTxV).
func Todo(ctx context.Context, tb testing.TB, db *tenancy.DB, tn tenancy.Tenant, opts *TodoOpts) tenantdb.Todo {
	tb.Helper()
	if opts == nil {
		opts = &TodoOpts{}
	}
	p := tenantdb.TodoCreateParams{
		Title:     cmp.Or(opts.Title, fmt.Sprintf("to-do %d", seq.Add(1))),
		CreatedBy: cmp.Or(opts.CreatedBy, 1),
	}
	todo, err := tenancy.InTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.Todo, error) {
		return q.TodoCreate(ctx, p)
	})
	if err != nil {
		tb.Fatalf("testfactory.Todo in %s: %v", tn.Schema, err)
	}
	return todo
}

// RegistryFleetOpts are the options of RegistryFleet.
type RegistryFleetOpts struct {
	// Prefix starts every schema name ("fleet" gives fleet_0001, fleet_0002, ...).
	Prefix string
	// BaseDomain is where the primary domains go ("fleet-0001.<BaseDomain>"); default example.test.
	BaseDomain string
	// DesiredHash is recorded as applied for the tenants that are current.
	DesiredHash string
}

// RegistryFleet writes n tenants straight into the registry (tenants, primary domains and
// ledger rows) in one statement, without schemas: enough for what reads only the registry (the
// platform admin page) at fleet sizes that tenancy.Create would take minutes to build. Every
// 17th tenant is suspended; every 10th is behind (an older hash) and every 25th failed (the
// ledger's last error set). It opens its own connection to url (a direct URL from dbtest).
func RegistryFleet(ctx context.Context, tb testing.TB, url string, n int, opts *RegistryFleetOpts) {
	tb.Helper()
	if opts == nil {
		opts = &RegistryFleetOpts{}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("testfactory.RegistryFleet: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `
WITH t AS (
    INSERT INTO public.tenants (schema_name, display_name, status)
    SELECT format('%s_%s', $1::text, lpad(i::text, 4, '0')), format('Fleet tenant %s', i),
           CASE WHEN i % 17 = 0 THEN 'suspended' ELSE 'active' END
    FROM generate_series(1, $2::int) i
    RETURNING id, schema_name
), d AS (
    INSERT INTO public.domains (domain, tenant_id, is_primary)
    SELECT replace(schema_name, '_', '-') || '.' || $3::text, id, true FROM t
)
INSERT INTO public.schema_ledger (schema_name, applied_hash, applied_at, attempted_hash, last_error, last_error_at)
SELECT schema_name,
       CASE WHEN id % 10 = 0 THEN 'an-older-hash' ELSE $4::text END,
       now() - (id % 90) * interval '1 hour',
       $4::text,
       CASE WHEN id % 25 = 0 THEN 'relation "todos" is locked' END,
       CASE WHEN id % 25 = 0 THEN now() END
FROM t`, cmp.Or(opts.Prefix, "fleet"), n, cmp.Or(opts.BaseDomain, "example.test"), opts.DesiredHash)
	if err != nil {
		tb.Fatalf("testfactory.RegistryFleet: %v", err)
	}
}
