package account_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toodoo/toodoo/account"
)

// TestClientLimitAtOnce: attempts sent at once on one budget let through exactly its burst;
// the refused are told to wait, at most one refill.
func TestClientLimitAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := account.Limit{Burst: 5, Every: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			wait, err := b.svc.TakeClientLimit(t.Context(), "test", "192.0.2.1", l)
			switch {
			case err != nil:
				t.Error(err)
			case wait == 0:
				allowed.Add(1)
			case wait > l.Every:
				t.Errorf("wait %v, more than one refill (%v)", wait, l.Every)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != int64(l.Burst) {
		t.Errorf("%d of 30 let through; want the burst of %d", n, l.Burst)
	}
	// Another address, and another scope, have budgets of their own.
	for _, c := range []struct{ scope, client string }{{"test", "192.0.2.2"}, {"other", "192.0.2.1"}} {
		if wait, err := b.svc.TakeClientLimit(t.Context(), c.scope, c.client, l); err != nil || wait != 0 {
			t.Errorf("%s from %s: wait %v, %v", c.scope, c.client, wait, err)
		}
	}
}

// TestReserveLogin: the pair is slowed down hard, the account gently, and a client that signed
// in skips the account's budget and has its own mistakes forgiven.
func TestReserveLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	hour := time.Hour
	l := account.LoginLimits{
		Client:  account.Limit{Burst: 100, Every: hour},
		Pair:    account.Limit{Burst: 2, Every: hour},
		Account: account.Limit{Burst: 3, Every: hour},
	}
	reserve := func(email, client string) bool {
		t.Helper()
		wait, err := b.svc.ReserveLogin(ctx, l, email, client)
		if err != nil {
			t.Fatal(err)
		}
		return wait == 0
	}
	// The owner signs in from home, after a typing mistake.
	if !reserve("owner@example.com", "home") || !reserve("Owner@Example.com", "home") {
		t.Fatal("the owner's first two attempts are refused")
	}
	if reserve("owner@example.com", "home") {
		t.Fatal("a third attempt from the pair is let through")
	}
	if err := b.svc.LoginSucceeded(ctx, l, "owner@example.com", "home"); err != nil {
		t.Fatal(err)
	}
	// The account's budget (3) was spent by two attempts; a stranger gets one more from one
	// address, none from another.
	if !reserve("owner@example.com", "stranger-1") {
		t.Fatal("the account's budget is spent too early")
	}
	if reserve("OWNER@example.com", "stranger-2") {
		t.Fatal("the account's budget is overspent")
	}
	// The owner at home is known: the pair was refilled and the account's budget is skipped.
	for i := range 2 {
		if !reserve("owner@example.com", "home") {
			t.Fatalf("the owner's attempt %d from home is refused", i+1)
		}
	}
}

// TestPurgeLimits: the purge deletes the rows whose time has passed and nothing else.
func TestPurgeLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	if _, err := b.svc.TakeClientLimit(ctx, "test", "192.0.2.1", account.Limit{Burst: 1, Every: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool().Exec(ctx, `INSERT INTO public.rate_limits (key, tat, allowed)
		SELECT 'old:' || i, now() - interval '1 second', true FROM generate_series(1, 7) i`); err != nil {
		t.Fatal(err)
	}
	n, err := b.svc.PurgeLimits(ctx)
	if err != nil || n != 7 {
		t.Fatalf("purged %d, %v; want the 7 expired rows", n, err)
	}
	var left int
	if err := b.db.Pool().QueryRow(ctx, `SELECT count(*) FROM public.rate_limits`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d rows left (%v); want the live bucket", left, err)
	}
	// The live bucket is still spent.
	if wait, err := b.svc.TakeClientLimit(ctx, "test", "192.0.2.1", account.Limit{Burst: 1, Every: time.Hour}); err != nil || wait == 0 {
		t.Fatalf("after the purge: wait %v, %v; want refused", wait, err)
	}
}

// TestClientLimitIPv6Prefix: an IPv6 client is its /64 (a subscriber's usual share), an
// IPv4-mapped address its IPv4 address.
func TestClientLimitIPv6Prefix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l := account.Limit{Burst: 1, Every: time.Hour}
	take := func(client string) bool {
		t.Helper()
		wait, err := b.svc.TakeClientLimit(t.Context(), "test", client, l)
		if err != nil {
			t.Fatal(err)
		}
		return wait == 0
	}
	for _, c := range []struct {
		first, second string
		shared        bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"2001:db8:1:3::1", "2001:db8:1:4::1", false},
		{"192.0.2.10", "::ffff:192.0.2.10", true},
		{"192.0.2.11", "192.0.2.12", false},
	} {
		if !take(c.first) {
			t.Fatalf("%s: first attempt refused", c.first)
		}
		if got := !take(c.second); got != c.shared {
			t.Errorf("%s after %s: refused %t, want %t", c.second, c.first, got, c.shared)
		}
	}
}
