package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// benchDomain is the base domain of the benchmark's server: tenant NAME is NAME.bench.test.
const benchDomain = "bench.test"

const (
	benchEmail    = "bench@example.com"
	benchPassword = "bench password 123"
	// pageMemberEmail is bench http's page user: a member of the first tenant only.
	pageMemberEmail = "page@example.com"
)

// tenantName is the schema of the i-th benchmark tenant (from 1); pgbench's scripts build the
// same names from a random number.
func tenantName(i int) string { return fmt.Sprintf("bench_%d", i) }

func tenantHost(i int) string { return fmt.Sprintf("bench-%d.%s", i, benchDomain) }

// migratePublic makes the shared schema and the mail queue's tables on an empty database, as
// `toodoo migrate` does.
func migratePublic(ctx context.Context, url string) error {
	if _, err := migrate.Run(ctx, url, schemadef.MustDefault(), migrate.Options{}, nil); err != nil {
		return err
	}
	_, err := tenancy.MigrateQueue(ctx, url)
	return err
}

// founderEmail is the i-th tenant's own owner: the person who signed it up.
func founderEmail(i int) string { return fmt.Sprintf("founder-%d@example.com", i) }

// seedTenants creates tenants from..to (tenancy.Create, the path of `toodoo tenant create`,
// cold: template DDL), at most par at a time, and calls progress after each. With withOwner,
// each tenant gets its founder (a user of its own, owner, as sign-up makes them) who gets a
// bearer token on it (returned) and todos to-dos through the tenant scope; the benchmark user
// owns every tenant besides (the platform's operator; bench http's heavy menu).
//
// The founders keep the shared tables' shape real: with one user owning every tenant and no
// one else, PostgreSQL's statistics said that a user has half of all memberships, and the
// session statement's workspace menu was planned as scans of every tenant, domain and
// membership (about 1.5 ms per page at 1,000 tenants) instead of a few index lookups.
func seedTenants(ctx context.Context, db *tenancy.DB, from, to, par int, withOwner bool, todos int, progress func(i int, took time.Duration)) ([]string, error) {
	def := schemadef.MustDefault()
	accounts := account.New(db)
	// The founders never sign in with a password: the cheapest hash keeps seeding fast.
	accounts.Params = account.Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	var owner account.User
	if withOwner {
		var err error
		if owner, err = accounts.GetUserByEmail(ctx, benchEmail); err != nil {
			if owner, err = accounts.CreateUser(ctx, benchEmail, benchPassword, false); err != nil {
				return nil, fmt.Errorf("create user: %w", err)
			}
		}
	}
	tokens := make([]string, to-from+1)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	var next atomic.Int64
	next.Store(int64(from) - 1)
	for range to - from + 1 {
		g.Go(func() error {
			i := int(next.Add(1))
			p := tenancy.CreateParams{Name: tenantName(i), Domain: tenantHost(i), Cold: true}
			var founder account.User
			if withOwner {
				var err error
				// Before the clock starts: the creation timed is the tenant's, as before the founders.
				if founder, err = accounts.CreateUser(ctx, founderEmail(i), benchPassword, false); err != nil {
					return fmt.Errorf("create founder: %w", err)
				}
				p.Then = func(ctx context.Context, tx *tenancy.Tx, t tenancy.Tenant) error {
					if err := account.AddMemberTx(ctx, tx, t.ID, founder.ID, account.RoleOwner); err != nil {
						return err
					}
					return account.AddMemberTx(ctx, tx, t.ID, owner.ID, account.RoleOwner)
				}
			}
			start := time.Now()
			t, err := db.Create(ctx, def, p)
			if err != nil {
				return err
			}
			if progress != nil {
				progress(i, time.Since(start))
			}
			if !withOwner {
				return nil
			}
			_, secret, err := accounts.CreateAPIToken(ctx, t.ID, founder.ID, "bench")
			if err != nil {
				return err
			}
			tokens[i-from] = secret
			return db.InTx(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
				for k := range todos {
					if _, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: fmt.Sprintf("to-do %d of %s", k+1, t.Schema), CreatedBy: founder.ID}); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	return tokens, g.Wait()
}

// seedPageUser creates bench http's page user, a member of the first tenant only.
func seedPageUser(ctx context.Context, db *tenancy.DB) error {
	accounts := account.New(db)
	if _, err := accounts.CreateUser(ctx, pageMemberEmail, benchPassword, false); err != nil {
		return fmt.Errorf("create page user: %w", err)
	}
	first, err := db.Get(ctx, tenantName(1))
	if err != nil {
		return fmt.Errorf("first tenant: %w", err)
	}
	_, err = accounts.AddMember(ctx, first.ID, pageMemberEmail, account.RoleMember)
	return err
}
