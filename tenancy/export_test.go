package tenancy

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PipelinedStatements returns how many statements the pool's connection (pool_max_conns=1 in
// the tests that call it) has marked as prepared in a tenant scope, so that its next
// transaction beginning with one of them is pipelined.
func PipelinedStatements(tb testing.TB, db *DB) int {
	tb.Helper()
	c, err := db.pool.Acquire(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Release()
	return len(stateOf(c.Conn()).known)
}

// MarkPrepared makes the pool's connection believe sql is prepared when pgx has not prepared
// it, as after an eviction from pgx's bounded statement cache.
func MarkPrepared(ctx context.Context, tb testing.TB, db *DB, sql string) {
	tb.Helper()
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Release()
	stateOf(c.Conn()).known[sql] = struct{}{}
}

// ReadScopeStrings runs each of sqls (one text column, one row) in one InReadTx scope of t and
// returns their values, to look at the scope from inside.
func ReadScopeStrings(ctx context.Context, db *DB, t Tenant, sqls ...string) ([]string, error) {
	var out []string
	err := db.scoped(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, s *scopeTx) error {
		for _, sql := range sqls {
			var v string
			if err := s.QueryRow(ctx, sql).Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// ImplicitReads reports whether db's InReadTx runs implicit transactions.
func ImplicitReads(db *DB) bool { return db.implicitReads }

// SetImplicitReads turns db's implicit read transactions on or off (for benchmarks that
// compare them with one READ ONLY transaction on the same pool).
func SetImplicitReads(db *DB, on bool) { db.implicitReads = on }
