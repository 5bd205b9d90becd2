package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/tenancy"
)

// site is what a request's host leads to: the public site on the base domain, or a tenant.
type site struct {
	Public bool
	Tenant tenancy.Tenant // when !Public
}

// hostCache maps host names to tenants in memory. Tenancy loads the host map (DB.Hosts,
// DB.TenantHosts, DB.ResolveHost); keeping a copy per process, fresh and cheap to miss, is this
// file's concern.
//
// While the map is trusted ("live"), it holds every domain of every tenant that is not deleted.
// Every change is announced with a notification on tenancy.HostsChannel whose payload is the
// tenant's id and the registry's new version; the cache then reloads that tenant's domains. A
// host that is not in a live map may still be one whose notification is on its way (a tenant
// created a millisecond ago by this or another process, whose sign-up redirects the browser here
// at once), so a miss asks the database, but only within a small global budget (missBudget) and
// behind the negative cache: a flood of random host names costs a bounded number of queries per
// second.
//
// Bounded staleness: a change of tenants or domains committed at time T is enforced by this
// process by T + 5 s at the latest, whatever happens to the LISTEN connection (it may be
// stalled, half-open, cut or slow). Two mechanisms, each sufficient for the bound:
//   - Reconcile: every reconcileEvery (2 s) the cache reads the registry's version, a counter
//     bumped in the same transaction as every change (tenancy.DB.RegistryVersion), over the pool,
//     not over the LISTEN connection. If it moved past the version the map was loaded at, the
//     whole map is reloaded. The read and the reload share a checkTimeout (2 s); if they fail,
//     the map is no longer trusted (below). Hence 2 s + 2 s ≤ 5 s.
//   - Heartbeat: the listener sends an empty query after 1 s of silence and drops the connection
//     when the answer takes more than 2 s (tenancy.Listener), with TCP keepalives underneath;
//     the map is then no longer trusted until a new connection has listened and reloaded it.
//
// While the map is not trusted (at start-up, after the connection failed or a reconcile failed),
// lookups go to the database. Unknown hosts are then remembered in a bounded negative cache for a
// short while, so that repeated requests for a bad host do not each cost a query. Every
// notification and every reload empties the negative cache.
type hostCache struct {
	db     *tenancy.DB
	logger *slog.Logger

	// load serializes the loads (reload, refresh), so that a slower load never installs an
	// older state over a newer one.
	load sync.Mutex

	mu       sync.RWMutex
	live     bool
	version  int64 // the registry's version the map holds every change up to
	hosts    map[string]tenancy.Tenant
	byTenant map[int64][]string
	negative map[string]time.Time // host -> when the entry expires
	// transitions are the changes of schema state the ledger records for the tenants of the
	// map, [from, to] hash -> class (see transition and web/gate.go).
	transitions map[[2]string]string

	negativeMax int
	negativeTTL time.Duration
	misses      *limiter // database look-ups for hosts missing from a live map

	// countLookup counts each lookup by result (web/metrics.go); the server sets it.
	countLookup func(result string)

	// reconcileEvery is how often the registry's version is checked, checkTimeout how long the
	// check and a reload it calls for may take; heartbeat and heartbeatTimeout are the
	// listener's (see tenancy.Listener). Tests shorten or disable them (a huge value).
	reconcileEvery, checkTimeout, heartbeat, heartbeatTimeout time.Duration

	// ready is closed after the first successful load by the listener, so that tests can wait
	// for a live map. Serving does not wait: until then, lookups go to the database.
	ready     chan struct{}
	readyOnce sync.Once
}

func newHostCache(db *tenancy.DB, logger *slog.Logger) *hostCache {
	return &hostCache{
		db:          db,
		logger:      logger,
		hosts:       map[string]tenancy.Tenant{},
		byTenant:    map[int64][]string{},
		negative:    map[string]time.Time{},
		transitions: map[[2]string]string{},
		negativeMax: 10000,
		negativeTTL: 10 * time.Second,
		misses:      newLimiter(missBudget),
		countLookup: func(string) {},
		ready:       make(chan struct{}),

		reconcileEvery:   2 * time.Second,
		checkTimeout:     2 * time.Second,
		heartbeat:        time.Second,
		heartbeatTimeout: 2 * time.Second,
	}
}

// missBudget bounds the database look-ups for hosts that a live map does not know: 50 at once,
// then 50 a second, shared by all unknown hosts.
var missBudget = RateLimit{Burst: 50, Every: 20 * time.Millisecond}

// errUnknownHost is returned by lookup for a host that leads nowhere.
var errUnknownHost = toodoo.Errorf(toodoo.ENOTFOUND, "No workspace at this address.")

// lookup returns the tenant behind host (already normalized). Returns errUnknownHost if none.
func (c *hostCache) lookup(ctx context.Context, host string) (tenancy.Tenant, error) {
	c.mu.RLock()
	t, ok := c.hosts[host]
	live := c.live
	expires, negative := c.negative[host]
	c.mu.RUnlock()
	switch {
	case ok && live:
		c.countLookup(lookupHit)
		return t, nil
	case negative && time.Now().Before(expires):
		c.countLookup(lookupNegative)
		return tenancy.Tenant{}, errUnknownHost
	case live:
		if allowed, _ := c.misses.allow(""); !allowed {
			c.countLookup(lookupThrottled)
			return tenancy.Tenant{}, errUnknownHost
		}
	}
	// Not in the map: ask the database. A hit is not added to the map (the notification will
	// add it; adding it here could resurrect a domain removed meanwhile).
	t, err := c.db.ResolveHost(ctx, host)
	if err != nil {
		if toodoo.ErrorCode(err) == toodoo.ENOTFOUND {
			c.countLookup(lookupUnknown)
			c.rememberUnknown(host)
			return tenancy.Tenant{}, errUnknownHost
		}
		c.countLookup(lookupError)
		return tenancy.Tenant{}, err
	}
	c.countLookup(lookupFound)
	return t, nil
}

// size returns the number of hosts in the map and whether the map is trusted (metrics).
func (c *hostCache) size() (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.hosts), c.live
}

// rememberUnknown adds host to the negative cache, making room first if it is full: expired
// entries go, and if none has expired the whole cache is dropped (cheaper than an LRU, and a full
// cache under a flood of random names is worthless anyway).
func (c *hostCache) rememberUnknown(host string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.negative) >= c.negativeMax {
		for h, exp := range c.negative {
			if now.After(exp) {
				delete(c.negative, h)
			}
		}
		if len(c.negative) >= c.negativeMax {
			clear(c.negative)
		}
	}
	c.negative[host] = now.Add(c.negativeTTL)
}

// reload replaces the whole map and makes the cache live (called after every LISTEN, and by
// reconcile when the registry's version moved). The version is read before the map, so that a
// change committed between the two reads is found again by the next reconcile, never missed.
func (c *hostCache) reload(ctx context.Context) error {
	c.load.Lock()
	defer c.load.Unlock()
	version, err := c.db.RegistryVersion(ctx)
	if err != nil {
		return err
	}
	hosts, err := c.db.Hosts(ctx)
	if err != nil {
		return err
	}
	byTenant := map[int64][]string{}
	for host, t := range hosts {
		byTenant[t.ID] = append(byTenant[t.ID], host)
	}
	transitions := map[[2]string]string{}
	for _, t := range hosts {
		addTransition(transitions, t.Ledger)
	}
	c.mu.Lock()
	c.hosts, c.byTenant, c.live, c.version = hosts, byTenant, true, version
	c.transitions = transitions
	clear(c.negative)
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	c.logger.Debug("host cache loaded", "hosts", len(hosts), "version", version)
	return nil
}

// refresh reloads the domains of the tenant named by a notification's payload, "<tenant id>
// <registry version>". When that version follows the map's, the map now holds it; otherwise
// (a notification missed, or one of a change the map already holds) the version stays and the
// next reconcile reloads the whole map if it is behind. A payload without a tenant id reloads
// everything.
func (c *hostCache) refresh(ctx context.Context, payload string) {
	idText, versionText, _ := strings.Cut(payload, " ")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		if err := c.reload(ctx); err != nil {
			c.lost(err)
		}
		return
	}
	version, _ := strconv.ParseInt(versionText, 10, 64) // 0 (never next) if absent
	c.load.Lock()
	defer c.load.Unlock()
	hosts, err := c.db.TenantHosts(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		// The map would be wrong for this tenant: stop trusting it until the next reload.
		c.lost(err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.byTenant[id] {
		delete(c.hosts, h)
	}
	delete(c.byTenant, id)
	for host, t := range hosts {
		c.hosts[host] = t
		c.byTenant[id] = append(c.byTenant[id], host)
		addTransition(c.transitions, t.Ledger)
	}
	if version == c.version+1 {
		c.version = version
	}
	clear(c.negative)
}

// reconcile checks the registry's version every reconcileEvery until ctx is done, reloading the
// map when it moved past the map's (or when the map is not trusted), and stops trusting the map
// when the check fails: the bound on staleness that does not depend on LISTEN (see hostCache).
func (c *hostCache) reconcile(ctx context.Context) {
	tick := time.NewTicker(c.reconcileEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.check(ctx); err != nil && ctx.Err() == nil {
			c.lost(fmt.Errorf("reconcile: %w", err))
		}
	}
}

// check is one reconcile step, bounded by checkTimeout.
func (c *hostCache) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.checkTimeout)
	defer cancel()
	version, err := c.db.RegistryVersion(ctx)
	if err != nil {
		return err
	}
	c.mu.RLock()
	current := c.live && version == c.version
	c.mu.RUnlock()
	if current {
		return nil
	}
	return c.reload(ctx)
}

// lost marks the map as no longer trustworthy: lookups go to the database until a reload. It
// logs only when the map was trusted, so that a failing check every 2 s does not flood the log.
func (c *hostCache) lost(err error) {
	c.mu.Lock()
	was := c.live
	c.live = false
	clear(c.negative)
	c.mu.Unlock()
	if was {
		c.logger.Warn("host cache: the map may be stale; resolving hosts through the database until it is reloaded", "error", err)
	}
}

// listener returns the tenancy.Listener that keeps c fresh.
func (c *hostCache) listener(url string) *tenancy.Listener {
	return &tenancy.Listener{
		URL:              url,
		Channel:          tenancy.HostsChannel,
		Heartbeat:        c.heartbeat,
		HeartbeatTimeout: c.heartbeatTimeout,
		Alongside:        c.reconcile,
		ReadyFunc: func(ctx context.Context) error {
			return c.reload(ctx)
		},
		NotifyFunc: func(ctx context.Context, payload string) {
			c.refresh(ctx, payload)
		},
		LostFunc: func(err error) {
			if !errors.Is(err, context.Canceled) {
				c.lost(err)
			}
		},
	}
}

// tenantFrom returns the request's tenant (the zero Tenant on the public site, which InTx
// refuses).
func tenantFrom(ctx context.Context) tenancy.Tenant { return siteFrom(ctx).Tenant }
