package migrate

import (
	"testing"

	"github.com/toodoo/toodoo/schemadef"
)

// fleetCheck.due judges the ledger's counts with SchemaState, as a run that reads the whole
// ledger would: nothing is due only when "public" and every tenant in scope are current and, in
// Citus mode, every tenant is distributed.
func TestFleetCheckDue(t *testing.T) {
	t.Parallel()
	def := schemadef.MustDefault()
	pub := fleetGroup{shared: true, appliedHash: def.SharedHash(), undistributed: true, schemas: 1}
	cur := fleetGroup{appliedHash: def.TenantHash(), schemas: 5}
	undist := fleetGroup{appliedHash: def.TenantHash(), undistributed: true, schemas: 2}
	for _, test := range []struct {
		name    string
		groups  []fleetGroup
		opts    Options
		citus   bool
		due     bool
		schemas int
	}{
		{"all current", []fleetGroup{pub, cur}, Options{}, false, false, 6},
		{"undistributed, plain PostgreSQL", []fleetGroup{pub, cur, undist}, Options{}, false, false, 8},
		{"undistributed, Citus", []fleetGroup{pub, cur, undist}, Options{}, true, true, 0},
		{"Citus, all distributed", []fleetGroup{pub, cur}, Options{}, true, false, 6},
		{"public behind", []fleetGroup{{shared: true, appliedHash: "old", schemas: 1}, cur}, Options{}, false, true, 0},
		{"public failed", []fleetGroup{{shared: true, appliedHash: def.SharedHash(), failed: true, schemas: 1}, cur}, Options{}, false, true, 0},
		{"public never", []fleetGroup{{shared: true, schemas: 1}}, Options{}, false, true, 0},
		{"a tenant behind", []fleetGroup{pub, cur, {appliedHash: "old", schemas: 1}}, Options{}, false, true, 0},
		{"a tenant failed", []fleetGroup{pub, cur, {appliedHash: def.TenantHash(), failed: true, schemas: 1}}, Options{}, false, true, 0},
		{"a tenant behind, shared only", []fleetGroup{pub, {appliedHash: "old", schemas: 1}}, Options{SharedOnly: true}, true, false, 1},
		{"verify", []fleetGroup{pub, cur}, Options{Verify: true}, false, true, 0},
		{"named tenants", []fleetGroup{pub, cur}, Options{Tenants: []string{"a"}}, false, true, 0},
	} {
		chk := &fleetCheck{groups: test.groups, groupsRead: true}
		if due, schemas := chk.due(def, test.opts, test.citus); due != test.due || schemas != test.schemas {
			t.Errorf("%s: due %t, %d schemas; want %t, %d", test.name, due, schemas, test.due, test.schemas)
		}
	}
	if due, _ := (&fleetCheck{}).due(def, Options{}, false); !due {
		t.Errorf("a check that could not read the ledger says nothing is due")
	}
}
