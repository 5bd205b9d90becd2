package migrate_test

import (
	"context"
	"errors"
	"fmt"
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

// TestOutcome: how Run's error is recorded in public.migration_runs (and reported as the
// metrics' outcome label).
func TestOutcome(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		err  error
		want string
	}{
		{nil, migrate.OutcomeOK},
		{fmt.Errorf("migrate: 1 of 3 schemas failed: %w", migrate.ErrIncomplete), migrate.OutcomeIncomplete},
		{fmt.Errorf("migrate: stopped with 2 schemas not attempted: %w", migrate.ErrLockLost), migrate.OutcomeStopped},
		{fmt.Errorf("migrate: stopped with 2 schemas not attempted: %w", context.Canceled), migrate.OutcomeStopped},
		{errors.New("migrate: read the ledger: connection refused"), migrate.OutcomeError},
	} {
		if got := migrate.Outcome(test.err); got != test.want {
			t.Errorf("Outcome(%v) = %q, want %q", test.err, got, test.want)
		}
	}
}
