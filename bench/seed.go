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

// seedTenants creates tenants from..to (tenancy.Create, the path of `toodoo tenant create`,
// cold: template DDL), at most par at a time, and calls progress after each. With withOwner,
// the benchmark user owns each and gets a bearer token on it (returned), and each gets todos
// to-dos through the tenant scope.
func seedTenants(ctx context.Context, db *tenancy.DB, from, to, par int, withOwner bool, todos int, progress func(i int, took time.Duration)) ([]string, error) {
	def := schemadef.MustDefault()
	accounts := account.New(db)
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
			start := time.Now()
			p := tenancy.CreateParams{Name: tenantName(i), Domain: tenantHost(i), Cold: true}
			if withOwner {
				p.Then = func(ctx context.Context, tx *tenancy.Tx, t tenancy.Tenant) error {
					return account.AddMemberTx(ctx, tx, t.ID, owner.ID, account.RoleOwner)
				}
			}
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
			_, secret, err := accounts.CreateAPIToken(ctx, t.ID, owner.ID, "bench")
			if err != nil {
				return err
			}
			tokens[i-from] = secret
			return db.InTx(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
				for k := range todos {
					if _, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: fmt.Sprintf("to-do %d of %s", k+1, t.Schema), CreatedBy: owner.ID}); err != nil {
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
