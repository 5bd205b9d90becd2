package migrate_test

import (
	"testing"

	"github.com/toodoo/toodoo/migrate"
)

// SchemaState is the one judgement of a ledger row; an error wins over a matching hash, and no
// row at all is behind (the next run migrates it).
func TestSchemaState(t *testing.T) {
	t.Parallel()
	for _, test := range []struct{ applied, lastError, want string }{
		{"h1", "", migrate.StateCurrent},
		{"h0", "", migrate.StateBehind},
		{"", "", migrate.StateBehind},
		{"h1", "boom", migrate.StateFailed},
		{"", "boom", migrate.StateFailed},
	} {
		if got := migrate.SchemaState(test.applied, test.lastError, "h1"); got != test.want {
			t.Errorf("SchemaState(%q, %q, %q) = %q, want %q", test.applied, test.lastError, "h1", got, test.want)
		}
	}
}
