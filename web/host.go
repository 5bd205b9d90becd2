package web

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
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
// While the listener on tenancy.HostsChannel is connected ("live"), the map holds every domain
// of every tenant that is not deleted, and every change is announced with a notification whose
// payload is the tenant's id; the cache then reloads that tenant's domains. A host that is not in
// a live map may still be one whose notification is on its way (a tenant created a millisecond
// ago by this or another process, whose sign-up redirects the browser here at once), so a miss
// asks the database, but only within a small global budget (missBudget) and behind the negative
// cache: a flood of random host names costs a bounded number of queries per second.
//
// While the listener is not connected (at start-up, or after the connection failed), the map
// might be stale, so lookups go to the database. Unknown hosts are then remembered in a bounded
// negative cache for a short while, so that repeated requests for a bad host do not each cost a
// query. Every notification and every reload empties the negative cache.
type hostCache struct {
	db     *tenancy.DB
	logger *slog.Logger

	mu       sync.RWMutex
	live     bool
	hosts    map[string]tenancy.Tenant
	byTenant map[int64][]string
	negative map[string]time.Time // host -> when the entry expires

	negativeMax int
	negativeTTL time.Duration
	misses      *limiter // database look-ups for hosts missing from a live map

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
		negativeMax: 10000,
		negativeTTL: 10 * time.Second,
		misses:      newLimiter(missBudget),
		ready:       make(chan struct{}),
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
		return t, nil
	case negative && time.Now().Before(expires):
		return tenancy.Tenant{}, errUnknownHost
	case live:
		if allowed, _ := c.misses.allow(""); !allowed {
			return tenancy.Tenant{}, errUnknownHost
		}
	}
	// Not in the map: ask the database. A hit is not added to the map (the notification will
	// add it; adding it here could resurrect a domain removed meanwhile).
	t, err := c.db.ResolveHost(ctx, host)
	if err != nil {
		if toodoo.ErrorCode(err) == toodoo.ENOTFOUND {
			c.rememberUnknown(host)
			return tenancy.Tenant{}, errUnknownHost
		}
		return tenancy.Tenant{}, err
	}
	return t, nil
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

// reload replaces the whole map and makes the cache live (called after every LISTEN).
func (c *hostCache) reload(ctx context.Context) error {
	hosts, err := c.db.Hosts(ctx)
	if err != nil {
		return err
	}
	byTenant := map[int64][]string{}
	for host, t := range hosts {
		byTenant[t.ID] = append(byTenant[t.ID], host)
	}
	c.mu.Lock()
	c.hosts, c.byTenant, c.live = hosts, byTenant, true
	clear(c.negative)
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	c.logger.Debug("host cache loaded", "hosts", len(hosts))
	return nil
}

// refresh reloads the domains of the tenant named by a notification's payload. A payload that
// is not a tenant id reloads everything.
func (c *hostCache) refresh(ctx context.Context, payload string) {
	id, err := strconv.ParseInt(payload, 10, 64)
	if err != nil {
		if err := c.reload(ctx); err != nil {
			c.lost(err)
		}
		return
	}
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
	}
	clear(c.negative)
}

// lost marks the map as no longer trustworthy: lookups go to the database until a reload.
func (c *hostCache) lost(err error) {
	c.mu.Lock()
	c.live = false
	clear(c.negative)
	c.mu.Unlock()
	c.logger.Warn("host cache: notifications lost; resolving hosts through the database until reconnected", "error", err)
}

// listener returns the tenancy.Listener that keeps c fresh.
func (c *hostCache) listener(url string) *tenancy.Listener {
	return &tenancy.Listener{
		URL:     url,
		Channel: tenancy.HostsChannel,
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
