package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/toodoo/toodoo"
)

// The host map says which tenant each host name leads to: every domain of every tenant that is
// not deleted. Tenancy owns the domains, so it loads the map; keeping a copy in memory and fresh
// (LISTEN on HostsChannel, a negative cache, a budget for misses) is the web server's concern
// (web/host.go), which calls Hosts after every LISTEN, TenantHosts for each notification and
// ResolveHost for a host its copy does not know.

// HostsChannel is the LISTEN/NOTIFY channel on which every change of tenants or domains is
// announced (payload: the tenant id), so that every process's host map stays fresh. The same
// transaction bumps the registry's version (RegistryVersion), which bounds the staleness when
// notifications are lost.
const HostsChannel = "toodoo_hosts"

// Hosts returns the whole host map: every domain of every tenant that is not deleted, with its
// tenant.
func (db *DB) Hosts(ctx context.Context) (map[string]Tenant, error) {
	rows, err := db.shared.DomainResolveAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenancy: load the host map: %w", err)
	}
	hosts := make(map[string]Tenant, len(rows))
	for _, r := range rows {
		hosts[r.Domain] = withLedger(tenantFromRow(r.Tenant), r.LedgerAppliedHash, r.LedgerPreviousHash, r.LedgerChangeClass)
	}
	return hosts, nil
}

// TenantHosts returns one tenant's part of the host map: its domains with the tenant, none if it
// is unknown or deleted. A notification on HostsChannel with the tenant's id asks for it.
func (db *DB) TenantHosts(ctx context.Context, tenantID int64) (map[string]Tenant, error) {
	rows, err := db.shared.DomainResolveByTenant(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("tenancy: load the hosts of tenant %d: %w", tenantID, err)
	}
	hosts := make(map[string]Tenant, len(rows))
	for _, r := range rows {
		hosts[r.Domain] = withLedger(tenantFromRow(r.Tenant), r.LedgerAppliedHash, r.LedgerPreviousHash, r.LedgerChangeClass)
	}
	return hosts, nil
}

// ResolveHost returns the tenant behind host, given as domains are stored (see NormalizeHost).
// Returns ENOTFOUND if no tenant that is not deleted has it.
func (db *DB) ResolveHost(ctx context.Context, host string) (Tenant, error) {
	row, err := db.shared.DomainResolve(ctx, host)
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return Tenant{}, toodoo.Errorf(toodoo.ENOTFOUND, "No tenant has the domain %q.", host)
	case err != nil:
		return Tenant{}, fmt.Errorf("tenancy: resolve host %q: %w", host, err)
	}
	return withLedger(tenantFromRow(row.Tenant), row.LedgerAppliedHash, row.LedgerPreviousHash, row.LedgerChangeClass), nil
}

// LedgerState is what the migrator's ledger says of a tenant's schema, as the host map carries
// it: the desired-state hash last applied, the hash it had before, and the class of that change
// for code built for the hash before ("additive" or "breaking"; "" when not known). Every write
// of the migrator's ledger for a tenant bumps the registry's version and notifies HostsChannel,
// so the host map follows a migration within the same staleness bound as any registry change.
// A process compares it with the hash it was built for to decide whether it may serve the
// tenant (web/gate.go).
type LedgerState struct {
	AppliedHash  string // "" when the schema has no ledger row
	PreviousHash string
	ChangeClass  string
}

// Change classes, as the migrator records them (migrate.classify).
const (
	ChangeAdditive = "additive" // code built for the hash before keeps working
	ChangeBreaking = "breaking" // it may not
)

func withLedger(t Tenant, applied, previous, class *string) Tenant {
	t.Ledger = LedgerState{AppliedHash: deref(applied), PreviousHash: deref(previous), ChangeClass: deref(class)}
	return t
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// RegistryVersion returns the registry's version: a counter that every change of tenants or
// domains bumps in its own transaction (with the notification on HostsChannel). A host map
// loaded after reading version v holds every change up to v, so a process that reads the version
// every few seconds and reloads when it moved is at most that stale whatever happens to its
// LISTEN connection (web/host.go). Read it before Hosts, never after: a change committed between
// the two reads is then seen again at the next check, not missed.
func (db *DB) RegistryVersion(ctx context.Context) (int64, error) {
	v, err := db.shared.RegistryVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("tenancy: read the registry version: %w", err)
	}
	return v, nil
}
