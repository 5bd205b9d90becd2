package tenancy_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/tenancy"
)

// TestAcquireBound: with the pool's only connection taken, every way to the database (shared
// queries that return rows or one row, a shared transaction, a tenant transaction, Ping) gives up
// within pool_acquire_timeout with EUNAVAILABLE; and the statements give their connection back,
// so that on a pool of one they run one after another without it.
func TestAcquireBound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	q.Set("pool_acquire_timeout", "150ms")
	u.RawQuery = q.Encode()
	db := testfactory.DB(ctx, t, u.String())
	tn := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "bound", Domain: "bound.example.test"})

	ways := map[string]func() error{
		"rows":    func() error { _, err := db.Hosts(ctx); return err },
		"one row": func() error { _, err := db.ResolveHost(ctx, "bound.example.test"); return err },
		"shared":  func() error { return db.SharedTx(ctx, func(context.Context, *tenancy.Tx) error { return nil }) },
		"tenant":  func() error { return db.InTx(ctx, tn, func(context.Context, *tenantdb.Queries) error { return nil }) },
		"readyz":  func() error { return db.Ping(ctx) },
		"list":    func() error { _, err := db.List(ctx, true); return err },
		"get":     func() error { _, err := db.Get(ctx, "bound"); return err },
	}
	// Twice each: a connection not given back would make the second round fail.
	for round := range 2 {
		for name, f := range ways {
			if err := f(); err != nil {
				t.Fatalf("round %d, %s: %v", round+1, name, err)
			}
		}
	}

	c, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range ways {
		if err := f(); toodoo.ErrorCode(err) != toodoo.EUNAVAILABLE {
			t.Errorf("%s with the pool taken: %v (code %q), want %q", name, err, toodoo.ErrorCode(err), toodoo.EUNAVAILABLE)
		}
	}
	c.Release()
	for name, f := range ways {
		if err := f(); err != nil {
			t.Errorf("%s after the release: %v", name, err)
		}
	}
}

// TestOpenAcquireTimeoutParam: pool_acquire_timeout is taken out of the URL (the server would
// refuse it as a setting) and must be a positive duration.
func TestOpenAcquireTimeoutParam(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"soon", "0s", "-1s", "2s"} {
		q := u.Query()
		q.Set("pool_acquire_timeout", value)
		u.RawQuery = q.Encode()
		db, err := tenancy.Open(t.Context(), u.String())
		if err == nil {
			db.Close()
		}
		if (err == nil) != (value == "2s") {
			t.Errorf("pool_acquire_timeout=%s: %v", value, err)
		}
	}
}
