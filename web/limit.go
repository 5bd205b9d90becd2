package web

import (
	"context"
	"sync"
	"time"
)

// Attempt limits. The budgets that protect passwords and sign-in secrets live in the database
// and are shared by every process (see package account's limits): a handler reserves its
// attempt there before it checks anything, and answers 429 with Retry-After when refused.
//
// The in-memory limiter below is only a cost guard of one process (the host cache's database
// look-ups for unknown hosts), where N processes having N budgets is fine.

// reserveLogin reserves one password check for email from the request's client address, before
// the password is looked at; a refusal is a 429 error with Retry-After.
func (s *Server) reserveLogin(ctx context.Context, email string) error {
	wait, err := s.accounts.ReserveLogin(ctx, s.cfg.LoginLimits, email, info(ctx).ClientIP)
	if err != nil {
		return err
	}
	if wait > 0 {
		s.metrics.rateLimited.WithLabelValues(scopePassword).Inc()
		return tooManyAttempts(wait)
	}
	return nil
}

// loginSucceeded records a successful password check for email from the request's client: the
// owner's own mistakes are forgiven and their address skips the account-wide budget.
func (s *Server) loginSucceeded(ctx context.Context, email string) error {
	return s.accounts.LoginSucceeded(ctx, s.cfg.LoginLimits, email, info(ctx).ClientIP)
}

// limitClient takes one attempt at scope from the request's client address's budget (the
// client budget of the login limits); a refusal is a 429 error with Retry-After.
func (s *Server) limitClient(ctx context.Context, scope string) error {
	wait, err := s.accounts.TakeClientLimit(ctx, scope, info(ctx).ClientIP, s.cfg.LoginLimits.Client)
	if err != nil {
		return err
	}
	if wait > 0 {
		s.metrics.rateLimited.WithLabelValues(scope).Inc()
		return tooManyAttempts(wait)
	}
	return nil
}

// limitsPurgeEvery is how often Serve purges the limits that mean nothing any more (full buckets,
// ended acquaintances). Any process may purge: the statement deletes only rows that mean nothing
// already, so the purges of several processes do not disturb each other.
const limitsPurgeEvery = time.Minute

// RateLimit allows Burst attempts at once, then one more every Every (a token bucket).
type RateLimit struct {
	Burst int
	Every time.Duration
}

// limiter is a token bucket per key, in the memory of one process. It guards costs, not
// secrets: see the note at the top.
type limiter struct {
	limit RateLimit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds memory under a flood of distinct keys: when reached, full buckets (keys idle
// long enough to be back at Burst) are dropped, which forgets nothing that matters.
const maxBuckets = 100000

func newLimiter(l RateLimit) *limiter {
	return &limiter{limit: l, now: time.Now, buckets: map[string]*bucket{}}
}

// refill brings b up to date and returns it (creating it full).
func (l *limiter) refill(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(l.limit.Burst), last: now}
		l.buckets[key] = b
		return b
	}
	if l.limit.Every > 0 {
		b.tokens += float64(now.Sub(b.last)) / float64(l.limit.Every)
	}
	b.tokens = min(b.tokens, float64(l.limit.Burst))
	b.last = now
	return b
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.limit.Every <= 0 || b.tokens+float64(now.Sub(b.last))/float64(l.limit.Every) >= float64(l.limit.Burst) {
			delete(l.buckets, k)
		}
	}
}

// allow takes one token for key. When there is none it returns false and how long until there is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, l.now())
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	if l.limit.Every <= 0 {
		return false, time.Hour
	}
	return false, time.Duration((1 - b.tokens) * float64(l.limit.Every))
}
