package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/tenancy"
)

// Schema-version gating. The binary is built for one state of schema.hcl, named by its tenant
// hash (schemadef.Definition.TenantHash); the host map carries each tenant's ledger state (the
// hash last applied to its schema, the hash before it and the class of that change, see
// tenancy.LedgerState), kept fresh like the rest of the map: every ledger write of the migrator
// for a tenant bumps the registry's version and notifies, so the gate follows a migration within
// the host map's staleness bound (5 s).
//
// Before any handler runs, a workspace request is served or refused by this rule (schemaServes):
//
//   - The tenant's applied hash is the code's: served.
//   - The tenant is one step ahead of the code by an additive change (its previous hash is the
//     code's and the change was additive: new tables, nullable or defaulted columns, plain
//     indexes): served. The code's queries touch only what its own version has, and the newer
//     version kept all of it unchanged.
//   - The tenant is one step behind by an additive change, as the ledger records it for another
//     schema of the fleet (the migrator applied the same change from the tenant's hash to the
//     code's elsewhere, classed additive): served. The code may find columns and tables of its
//     version missing, so this relies on the expand/contract rule (README, Rolling deploys): a
//     release does not read or write what its own schema.hcl adds; the release after does, once
//     every tenant is migrated (the migrator's exit status and `toodoo migrate status` say when).
//   - Anything else (behind or ahead by a breaking change, by more than one step, a change the
//     ledger has no class for, a schema without a ledger row): 503 with Retry-After and a
//     maintenance page, or application/problem+json with code "unavailable" on the API. The
//     tenant is served again as soon as the host map sees its schema migrated to the code's hash
//     (or the fleet's code rolled to the schema's).
//
// It does not migrate a tenant on the spot: a request would then wait on DDL and its locks (5 s
// lock timeout per schema, more for a large table), take the migrator's place (its advisory lock,
// its ledger), and a breaking change would need consent a request cannot give. A tenant whose
// migration failed (a lock held by a long transaction) is retried by the next `toodoo migrate`.

// maintenanceRetryAfter is the Retry-After of a tenant in maintenance: a migration of one schema
// takes well under a second, but the host map follows it within 5 s.
const maintenanceRetryAfter = 10 * time.Second

// errMaintenance is the error a gated request gets.
var errMaintenance = toodoo.Errorf(toodoo.EUNAVAILABLE, "This workspace is being upgraded. Please try again in a few seconds.")

// Verdicts of schemaServes, logged with a refusal.
const (
	schemaCurrent        = "current"
	schemaAheadAdditive  = "ahead, additive"
	schemaBehindAdditive = "behind, additive"
	schemaUnknown        = "no ledger row"
	schemaIncompatible   = "incompatible"
)

// schemaServes reports whether code built for the tenant hash code may serve a tenant whose
// ledger state is l (see the rule above), and why. transition returns the class the ledger
// records for a change from one hash to another ("" when none is recorded).
func schemaServes(l tenancy.LedgerState, code string, transition func(from, to string) string) (bool, string) {
	switch {
	case l.AppliedHash == "":
		return false, schemaUnknown
	case l.AppliedHash == code:
		return true, schemaCurrent
	case l.PreviousHash == code && l.ChangeClass == tenancy.ChangeAdditive:
		return true, schemaAheadAdditive
	case transition(l.AppliedHash, code) == tenancy.ChangeAdditive:
		return true, schemaBehindAdditive
	}
	return false, schemaIncompatible
}

// addTransition adds the change l records to transitions; when two schemas record different
// classes for the same change (one had drifted), breaking wins.
func addTransition(transitions map[[2]string]string, l tenancy.LedgerState) {
	if l.PreviousHash == "" || l.AppliedHash == "" {
		return
	}
	k := [2]string{l.PreviousHash, l.AppliedHash}
	class := l.ChangeClass
	if class != tenancy.ChangeAdditive {
		class = tenancy.ChangeBreaking
	}
	if old, ok := transitions[k]; !ok || old == tenancy.ChangeAdditive {
		transitions[k] = class
	}
}

// transition returns the class of the change from one hash to another as the ledger records it
// for a tenant of the map ("" when none does).
func (c *hostCache) transition(from, to string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.transitions[[2]string{from, to}]
}

// gate refuses a workspace request whose tenant's schema the code cannot work with (see above).
// It runs after resolveHost and before anything reads the tenant's schema.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := siteFrom(r.Context())
		if st.Public {
			next.ServeHTTP(w, r)
			return
		}
		code := s.def.TenantHash()
		ok, why := schemaServes(st.Tenant.Ledger, code, s.hosts.transition)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		s.metrics.gated.WithLabelValues(gateVerdict(why)).Inc()
		s.logger.WarnContext(ctx, "request refused: tenant schema does not match the code", "request_id", info(ctx).ID,
			"tenant", st.Tenant.Schema, "schema_hash", st.Tenant.Ledger.AppliedHash, "code_hash", code, "verdict", why)
		w.Header().Set("Retry-After", strconv.Itoa(int(maintenanceRetryAfter/time.Second)))
		if isAPI(r) {
			writeProblem(w, http.StatusServiceUnavailable, errMaintenance)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		data := &maintenancePage{page: page{Title: "Upgrading"}, RetryAfter: int(maintenanceRetryAfter / time.Second)}
		if err := s.render(w, r, http.StatusServiceUnavailable, "maintenance.html", data); err != nil {
			s.logger.Error("render maintenance page", "error", err)
			http.Error(w, toodoo.ErrorMessage(errMaintenance), http.StatusServiceUnavailable)
		}
	})
}

// maintenancePage is the page of a workspace being upgraded.
type maintenancePage struct {
	page
	RetryAfter int // seconds
}
