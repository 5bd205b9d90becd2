package tenancy

import (
	"context"

	"github.com/toodoo/toodoo/gen/shareddb"
)

// SharedV runs fn with the shared-schema queries bound to the pool (each statement its own
// transaction, so no BEGIN/COMMIT round trips for a single read) and translates its error as
// InTx does: no rows becomes ENOTFOUND, so callers need not import pgx.
func SharedV[T any](ctx context.Context, db *DB, fn func(ctx context.Context, q *shareddb.Queries) (T, error)) (T, error) {
	v, err := fn(ctx, db.Shared())
	return v, interpret(err)
}
