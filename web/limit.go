package web

import (
	"strings"
	"sync"
	"time"
)

// RateLimit allows Burst attempts at once, then one more every Every (a token bucket).
type RateLimit struct {
	Burst int
	Every time.Duration
}

// limiter is a token bucket per key (a client address, an email), in memory. Each process
// limits on its own: behind N processes an attacker gets N times the budget, which still turns
// a password-guessing run from millions of tries into thousands.
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

// emailKey is the per-account limiter's key for an email address, used by the login form and
// the password page alike, so that one account has one budget however its address is typed.
// The database compares addresses by lower(), so the key folds case too, in every script
// (strings.ToLower): folding only ASCII gave "Ärger@" and "ärger@" two budgets.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

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
	now := l.now()
	b := l.refill(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.wait(b)
}

// check reports whether key has a token left, without taking it.
func (l *limiter) check(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, l.now())
	if b.tokens >= 1 {
		return true, 0
	}
	return false, l.wait(b)
}

// take spends one token for key (a failed login), going no lower than zero.
func (l *limiter) take(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key, l.now())
	b.tokens = max(b.tokens-1, 0)
}

func (l *limiter) wait(b *bucket) time.Duration {
	if l.limit.Every <= 0 {
		return time.Hour
	}
	return time.Duration((1 - b.tokens) * float64(l.limit.Every))
}
