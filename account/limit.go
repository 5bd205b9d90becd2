package account

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// Limits on attempts (to check a password, to sign up, to use a one-time link) live in the
// database, in public.rate_limits, so that every process serving Toodoo spends the same budgets:
// N replicas do not give an attacker N times the tries. Each budget is a token bucket (GCRA,
// see LimitTake in sql/queries/shared/limits.sql) taken or refused in one statement, before the
// password is checked: attempts sent at once queue on the bucket's row and cannot overspend it.
//
// A password check is reserved against three budgets, in this order, stopping at the first that
// refuses (so a refused attempt spends nothing further along):
//
//  1. the client address (LoginLimits.Client), whatever the account: one address cannot try
//     many accounts quickly;
//  2. the pair of account and client address (LoginLimits.Pair), small: one address guessing one
//     account is slowed down hard;
//  3. the account (LoginLimits.Account), large: many addresses guessing one account are slowed
//     down gently. Clients the account knows skip it: an address from which the account signed
//     in within LoginLimits.Known. So a stranger with many addresses can exhaust the account's
//     budget, but that locks out only other strangers (and the owner on a new address, gently:
//     the budget refills), never the owner from where they usually sign in.
//
// A successful check refills its pair's bucket and makes the client known (LoginSucceeded): the
// owner's own typing mistakes do not pile up into a wait.
//
// Rows whose time has passed are full buckets or ended acquaintances; PurgeLimits deletes them
// (the web server runs it periodically). Keys hold a SHA-256 of the address and e-mail, never
// the address or e-mail themselves.

// Limit is a token bucket: Burst attempts at once, then one more every Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// LoginLimits are the budgets of password checks (see the package's limits above). A zero field
// takes its value from DefaultLoginLimits.
type LoginLimits struct {
	Client  Limit         // per client address, whatever the account
	Pair    Limit         // per account and client address: hard
	Account Limit         // per account, from clients it does not know: gentle
	Known   time.Duration // how long a client stays known to an account after signing in there
}

// DefaultLoginLimits: 20 attempts from an address, then one per 3 s; 5 for one account from one
// address, then one per 30 s; 30 for one account from addresses it does not know, then one per
// 30 s; an address stays known for 30 days after a sign-in.
var DefaultLoginLimits = LoginLimits{
	Client:  Limit{Burst: 20, Every: 3 * time.Second},
	Pair:    Limit{Burst: 5, Every: 30 * time.Second},
	Account: Limit{Burst: 30, Every: 30 * time.Second},
	Known:   30 * 24 * time.Hour,
}

func (l LoginLimits) withDefaults() LoginLimits {
	d := DefaultLoginLimits
	if l.Client.Burst <= 0 {
		l.Client = d.Client
	}
	if l.Pair.Burst <= 0 {
		l.Pair = d.Pair
	}
	if l.Account.Burst <= 0 {
		l.Account = d.Account
	}
	if l.Known <= 0 {
		l.Known = d.Known
	}
	return l
}

// limitKey is the key of a budget: its kind in clear, then the SHA-256 of its parts (a client
// address, an account's folded e-mail), so the table holds no address or e-mail and a key's
// length is bounded whatever was typed.
func limitKey(kind string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return kind + ":" + base64.RawURLEncoding.EncodeToString(h[:])
}

// accountKey is the account part of a key for an e-mail as typed: one account has one budget
// however its address is typed. The database compares addresses by lower(), so the key folds
// case too, in every script (strings.ToLower, not ASCII folding: "Ärger@" and "ärger@" are one
// account).
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// clientKey is the client part of a key: the address, but an IPv6 address's /64, which one
// subscriber usually holds whole (one budget per address would give them 2^64).
func clientKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// take takes one token from the bucket key under l. It returns 0 when the attempt may go on and
// otherwise how long until it could (never 0).
func (s *Service) take(ctx context.Context, key string, l Limit) (time.Duration, error) {
	every := l.Every.Seconds()
	r, err := s.q.LimitTake(ctx, shareddb.LimitTakeParams{Key: key, EverySecs: every, WindowSecs: every * float64(l.Burst)})
	if err != nil {
		return 0, fmt.Errorf("account: take from a limit: %w", err)
	}
	if r.Allowed {
		return 0, nil
	}
	return max(time.Duration(r.WaitSecs*float64(time.Second)), time.Second), nil
}

// TakeClientLimit takes one attempt at scope (such as "signup") from the budget of the client
// address. It returns 0 when the attempt may go on and otherwise how long the client must wait.
func (s *Service) TakeClientLimit(ctx context.Context, scope, client string, l Limit) (time.Duration, error) {
	return s.take(ctx, limitKey("client:"+scope, clientKey(client)), l)
}

// LoginClientScope is the client budget that password checks spend; handlers of other
// sign-in secrets (one-time links, invitations) spend it too.
const LoginClientScope = "login"

// ReserveLogin reserves one password check for the account of email from the client address,
// before the password is looked at: it returns 0 when the check may go on, and otherwise how long
// the client must wait (and the password must not be checked). See the limits above.
func (s *Service) ReserveLogin(ctx context.Context, l LoginLimits, email, client string) (time.Duration, error) {
	l = l.withDefaults()
	acct, client := accountKey(email), clientKey(client)
	if wait, err := s.TakeClientLimit(ctx, LoginClientScope, client, l.Client); wait > 0 || err != nil {
		return wait, err
	}
	if wait, err := s.take(ctx, limitKey("pair", acct, client), l.Pair); wait > 0 || err != nil {
		return wait, err
	}
	known, err := s.q.LimitKnown(ctx, limitKey("known", acct, client))
	if err != nil {
		return 0, fmt.Errorf("account: known client: %w", err)
	}
	if known {
		return 0, nil
	}
	return s.take(ctx, limitKey("account", acct), l.Account)
}

// LoginSucceeded records that the account of email signed in from the client address: its pair's
// bucket is full again and the client skips the account's budget for l.Known.
func (s *Service) LoginSucceeded(ctx context.Context, l LoginLimits, email, client string) error {
	l = l.withDefaults()
	acct, client := accountKey(email), clientKey(client)
	err := s.q.LimitRemember(ctx, shareddb.LimitRememberParams{
		Key: limitKey("known", acct, client), TtlSecs: l.Known.Seconds(), RefillKey: limitKey("pair", acct, client),
	})
	if err != nil {
		return fmt.Errorf("account: remember a known client: %w", err)
	}
	return nil
}

// PurgeLimits deletes the budgets that are full again and the acquaintances that have ended
// (rows that mean nothing any more), and returns how many.
func (s *Service) PurgeLimits(ctx context.Context) (int64, error) {
	n, err := purgeInBatches(ctx, s.q.LimitPurge)
	if err != nil {
		return n, fmt.Errorf("account: purge limits: %w", err)
	}
	return n, nil
}

// purgeBatch bounds one purge statement, so that a purge after a flood of rows does not hold a
// long delete.
const purgeBatch = 5000

// purgeInBatches runs del (a generated "delete at most maxRows" query) until a batch comes back
// short, and returns how many rows went in all.
func purgeInBatches(ctx context.Context, del func(ctx context.Context, maxRows int32) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := del(ctx, purgeBatch)
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}
