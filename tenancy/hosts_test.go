package tenancy_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// TestHostMap: the host map holds every domain of every tenant that is not deleted, a tenant's
// part of it follows its changes, and List shows the same domains, primary first.
func TestHostMap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	if _, err := b.db.AddDomain(ctx, "first", "a.first.test", false); err != nil {
		t.Fatal(err)
	}

	// The host map carries each tenant's ledger state: created at the template's hash.
	hash := schemadef.MustDefault().TenantHash()
	first, second := b.first, b.second
	first.Ledger.AppliedHash, second.Ledger.AppliedHash = hash, hash
	hosts, err := b.db.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tenancy.Tenant{"first.example.test": first, "a.first.test": first, "second.example.test": second}
	if !maps.Equal(hosts, want) {
		t.Errorf("Hosts = %v, want %v", hosts, want)
	}
	mine, err := b.db.TenantHosts(ctx, b.first.ID)
	if err != nil || len(mine) != 2 || mine["a.first.test"] != first {
		t.Errorf("TenantHosts(first) = %v, %v; want its two domains", mine, err)
	}
	if got, err := b.db.ResolveHost(ctx, "a.first.test"); err != nil || got != first {
		t.Errorf("ResolveHost(a.first.test) = %+v, %v; want %+v", got, err, first)
	}
	if _, err := b.db.ResolveHost(ctx, "nowhere.test"); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Errorf("ResolveHost(unknown) = %v, want ENOTFOUND", err)
	}

	list, err := b.db.List(ctx, false)
	if err != nil || len(list) != 2 || list[0].Tenant != b.first {
		t.Fatalf("List = %+v, %v; want first and second", list, err)
	}
	if s := list[0]; !slices.Equal(s.Domains, []string{"first.example.test", "a.first.test"}) || s.PrimaryDomain != "first.example.test" {
		t.Errorf("List: first's domains = %q (primary %q), want the primary first", s.Domains, s.PrimaryDomain)
	}

	// Suspended tenants stay in the map (their hosts answer 403); deleted ones leave it.
	if _, err := b.db.SetStatus(ctx, "second", tenancy.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if got, err := b.db.ResolveHost(ctx, "second.example.test"); err != nil || got.Status != tenancy.StatusSuspended {
		t.Errorf("ResolveHost(suspended) = %+v, %v", got, err)
	}
	if err := b.db.Delete(ctx, "first", false); err != nil {
		t.Fatal(err)
	}
	if mine, err := b.db.TenantHosts(ctx, b.first.ID); err != nil || len(mine) != 0 {
		t.Errorf("TenantHosts(deleted) = %v, %v; want none", mine, err)
	}
	if list, err := b.db.List(ctx, true); err != nil || len(list) != 2 || list[0].Status != tenancy.StatusDeleted || list[0].DeletedAt == nil {
		t.Errorf("List(include deleted) = %+v, %v", list, err)
	}
}

// TestSharedErrorsInterpreted: errors of the generated shared queries arrive as toodoo errors,
// in a transaction or not, so that account need not import the driver.
func TestSharedErrorsInterpreted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	q := b.db.SharedQueries()
	if _, err := q.TenantGetByName(ctx, "nobody"); !errors.Is(err, toodoo.ErrNotFound) {
		t.Errorf("no rows: err = %v, want toodoo.ErrNotFound", err)
	}
	for _, test := range []struct {
		name string
		p    shareddb.DomainInsertParams
		code string
	}{
		{"Unique", shareddb.DomainInsertParams{Domain: "first.example.test", TenantID: b.second.ID}, toodoo.ECONFLICT},
		{"ForeignKey", shareddb.DomainInsertParams{Domain: "orphan.test", TenantID: -1}, toodoo.ENOTFOUND},
		{"Check", shareddb.DomainInsertParams{Domain: "UPPER.test", TenantID: b.second.ID}, toodoo.EINVALID},
	} {
		_, err := q.DomainInsert(ctx, test.p)
		if got := toodoo.ErrorCode(err); got != test.code {
			t.Errorf("%s: err = %v (code %q), want code %q", test.name, err, got, test.code)
		}
		err = b.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
			_, err := tx.SharedQueries().DomainInsert(ctx, test.p)
			return err
		})
		if got := toodoo.ErrorCode(err); got != test.code {
			t.Errorf("%s in SharedTx: err = %v (code %q), want code %q", test.name, err, got, test.code)
		}
	}
}
