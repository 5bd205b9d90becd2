package tenancy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// The platform admin's view of the registry: one page of tenants at a time, filtered in the
// database, and a summary of the fleet in a few rows, so that the page costs the same with ten
// tenants or ten thousand.

// AdminFilter selects the tenants of one admin page.
type AdminFilter struct {
	Query   string // part of the name, display name or a domain; "" for any
	Status  string // StatusActive, StatusSuspended, or "" for both
	State   string // "current", "behind", "failed" (migrate's schema states), or "" for any
	Desired string // the desired schema hash, against which State is judged
	Limit   int
	Offset  int
}

// AdminTenant is one row of the admin's tenant list.
type AdminTenant struct {
	Tenant
	CreatedAt     time.Time
	PrimaryDomain string
	DomainCount   int64
	MemberCount   int64
	AppliedHash   string     // "" if the ledger has no row
	AppliedAt     *time.Time //
	LastError     string     // "" if the last attempt succeeded
	LastErrorAt   *time.Time //
}

// AdminTenants returns the tenants that are not deleted and match f, by name, and how many match
// in all. One query.
func (db *DB) AdminTenants(ctx context.Context, f AdminFilter) ([]AdminTenant, int64, error) {
	rows, err := db.shared.TenantAdminPage(ctx, shareddb.TenantAdminPageParams{
		Status:     f.Status,
		Query:      escapeLike(f.Query),
		State:      f.State,
		Desired:    f.Desired,
		PageSize:   int32(f.Limit),
		PageOffset: int32(f.Offset),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("tenancy: admin tenants: %w", err)
	}
	var total int64
	list := make([]AdminTenant, len(rows))
	for i, r := range rows {
		total = r.Total
		list[i] = AdminTenant{Tenant: tenantFromRow(r.Tenant), CreatedAt: r.Tenant.CreatedAt,
			PrimaryDomain: r.PrimaryDomain, DomainCount: r.DomainCount, MemberCount: r.MemberCount,
			AppliedHash: r.AppliedHash, AppliedAt: r.AppliedAt, LastError: r.LastError, LastErrorAt: r.LastErrorAt}
	}
	return list, total, nil
}

// escapeLike makes s match itself inside an ILIKE pattern: % and _ are literal.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// FleetGroup counts the tenants that are not deleted and share a status, an applied hash and
// whether their last migration failed.
type FleetGroup struct {
	Status      string
	AppliedHash string
	Failed      bool
	Tenants     int64
}

// FleetGroups returns the fleet in groups (a few rows whatever its size), for a summary.
func (db *DB) FleetGroups(ctx context.Context) ([]FleetGroup, error) {
	rows, err := db.shared.TenantFleetSummary(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenancy: fleet summary: %w", err)
	}
	out := make([]FleetGroup, len(rows))
	for i, r := range rows {
		out[i] = FleetGroup{Status: r.Status, AppliedHash: r.AppliedHash, Failed: r.Failed, Tenants: r.Tenants}
	}
	return out, nil
}

// LedgerEvent is a migration the ledger records: applied (Error empty) or failed.
type LedgerEvent struct {
	Schema      string
	At          *time.Time
	AppliedHash string
	ChangeClass string
	Error       string
}

// RecentLedger returns the latest n applied migrations and the latest n failures, newest first,
// of "public" and of the tenants that are not deleted.
func (db *DB) RecentLedger(ctx context.Context, n int) (applied, failed []LedgerEvent, err error) {
	ar, err := db.shared.LedgerRecentApplied(ctx, int32(n))
	if err != nil {
		return nil, nil, fmt.Errorf("tenancy: recent migrations: %w", err)
	}
	for _, r := range ar {
		applied = append(applied, LedgerEvent{Schema: r.SchemaName, At: r.AppliedAt, AppliedHash: r.AppliedHash, ChangeClass: r.ChangeClass})
	}
	fr, err := db.shared.LedgerRecentFailures(ctx, int32(n))
	if err != nil {
		return nil, nil, fmt.Errorf("tenancy: recent failures: %w", err)
	}
	for _, r := range fr {
		failed = append(failed, LedgerEvent{Schema: r.SchemaName, At: r.LastErrorAt, Error: r.LastError})
	}
	return applied, failed, nil
}
