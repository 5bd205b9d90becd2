package dbtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/dbtest"
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
