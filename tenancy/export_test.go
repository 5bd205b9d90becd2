package tenancy

import (
	"context"
	"testing"
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
