package dbtest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/schemadef"
)

// BenchmarkQueryExecMode compares pgx's query modes on the URL tests get: through PgBouncer
// with TEST_PGBOUNCER=1, where only exec and simple_protocol work (PgBouncer 1.18 does not keep
// named prepared statements in transaction mode), and directly otherwise. Compare the modes
// with `benchstat -col /mode`.
func BenchmarkQueryExecMode(b *testing.B) {
	url := dbtest.URL(b)
	modes := []pgx.QueryExecMode{pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol}
	if !dbtest.Pooled() {
		modes = append(modes, pgx.QueryExecModeCacheStatement)
	}
	setup := connectBench(b, url, pgx.QueryExecModeExec)
	if _, err := setup.Exec(b.Context(), `INSERT INTO public.tenants (schema_name, display_name)
		SELECT 'tenant_' || g, 'Tenant ' || g FROM generate_series(1, 100) g`); err != nil {
		b.Fatal(err)
	}
	for _, mode := range modes {
		b.Run("mode="+mode.String(), func(b *testing.B) {
			conn := connectBench(b, url, mode)
			b.Run("q=row", func(b *testing.B) {
				var name string
				for i := 0; b.Loop(); i++ {
					if err := conn.QueryRow(b.Context(), "SELECT display_name FROM public.tenants WHERE id = $1", int64(i%100+1)).Scan(&name); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("q=rows", func(b *testing.B) {
				for b.Loop() {
					rows, _ := conn.Query(b.Context(), "SELECT id, schema_name, display_name, created_at FROM public.tenants WHERE status = $1 ORDER BY id LIMIT $2", "active", 50)
					if _, err := pgx.CollectRows(rows, pgx.RowToMap); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("q=tx", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					err := pgx.BeginFunc(b.Context(), conn, func(tx pgx.Tx) error {
						if _, err := tx.Exec(b.Context(), "SELECT set_config('search_path', $1, true)", "public"); err != nil {
							return err
						}
						_, err := tx.Exec(b.Context(), "UPDATE tenants SET display_name = $1 WHERE id = $2", "renamed", int64(i%100+1))
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func connectBench(b *testing.B, url string, mode pgx.QueryExecMode) *pgx.Conn {
	b.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	conn, err := pgx.ConnectConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// BenchmarkDDLMessages compares the ways of sending several DDL statements in one transaction:
// script, one multi-statement string by the simple protocol (what Toodoo did before Citus);
// pipelined, one statement per message, all sent at once (schemadef.Exec, what Citus needs);
// each, one round trip per statement. op=create makes a tenant schema from the template;
// op=migrate is a migrator's apply (its SET LOCALs, a column, an index and a CHECK on it). Each
// transaction is rolled back. Every iteration runs the three ways in turn (in a rotating order),
// so that a busy machine slows them alike, and the benchmark reports each way's median
// (ms-median-script, ...); ns/op is their sum.
func BenchmarkDDLMessages(b *testing.B) {
	url := dbtest.URL(b)
	def := schemadef.MustDefault()
	conn := connectBench(b, url, pgx.QueryExecModeExec)
	ctx := b.Context()
	setup := def.CreateTenantStatements("bench_tenant")
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return schemadef.Exec(ctx, tx, setup) }); err != nil {
		b.Fatal(err)
	}
	ops := []struct {
		name  string
		stmts func(i int) []string
	}{
		{"create", func(i int) []string { return def.CreateTenantStatements(fmt.Sprintf("bench_%d", i)) }},
		{"migrate", func(int) []string {
			return []string{
				"SET LOCAL lock_timeout = 3000", "SET LOCAL synchronous_commit = off", "SET LOCAL search_path TO bench_tenant",
				"ALTER TABLE todos ADD COLUMN priority integer NOT NULL DEFAULT 0",
				"CREATE INDEX todos_priority_idx ON todos (priority)",
				"ALTER TABLE todos ADD CONSTRAINT todos_priority_range CHECK (priority BETWEEN 0 AND 9)",
			}
		}},
	}
	ways := []struct {
		name string
		exec func(tx pgx.Tx, stmts []string) error
	}{
		{"script", func(tx pgx.Tx, stmts []string) error {
			_, err := tx.Exec(ctx, schemadef.Script(stmts), pgx.QueryExecModeSimpleProtocol)
			return err
		}},
		{"pipelined", func(tx pgx.Tx, stmts []string) error { return schemadef.Exec(ctx, tx, stmts) }},
		{"each", func(tx pgx.Tx, stmts []string) error {
			for _, s := range stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, op := range ops {
		b.Run("op="+op.name, func(b *testing.B) {
			took := make([][]time.Duration, len(ways))
			for i := 0; b.Loop(); i++ {
				for k := range ways {
					w := (i + k) % len(ways)
					start := time.Now()
					tx, err := conn.Begin(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if err := ways[w].exec(tx, op.stmts(i)); err != nil {
						b.Fatal(err)
					}
					if err := tx.Rollback(ctx); err != nil {
						b.Fatal(err)
					}
					took[w] = append(took[w], time.Since(start))
				}
			}
			for w, way := range ways {
				slices.Sort(took[w])
				b.ReportMetric(float64(took[w][len(took[w])/2])/1e6, "ms-median-"+way.name)
			}
		})
	}
}
