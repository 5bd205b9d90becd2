package migrate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/toodoo/toodoo/schemadef"
)

// fingerprintQuery computes, in one query, a catalog fingerprint of each schema named in $1: the
// md5 of the sorted descriptions of everything Atlas inspects in a PostgreSQL schema (relations,
// columns with type, nullability, identity, generation, collation and default, indexes,
// constraints, sequences, enum and domain types, and the comments on all of them).
//
// Names are compared, not positions (column order and attnums do not count, as they do not for
// Atlas), and the schema's own qualifier is stripped from rendered definitions, so two schemas
// whose objects Atlas would describe alike have the same fingerprint whatever they are called.
// That is what lets one Atlas inspection stand for a whole group, and lets --verify find drift
// without inspecting every tenant: Atlas's InspectSchema costs tens of milliseconds per schema
// once the catalog holds a thousand tenants; this query fingerprints all thousand in a few hundred
// milliseconds.
//
// A schema that does not exist gets a NULL fingerprint. The qualifier is removed with replace(),
// so a literal that happens to contain `"schema".` inside an expression loses it too: that can
// only make two schemas look alike that differ in such a literal, never the reverse.
const fingerprintQuery = `
WITH ns AS (
	SELECT n.oid, n.nspname, quote_ident(n.nspname) || '.' AS q
	FROM pg_catalog.pg_namespace n
	WHERE n.nspname = ANY ($1::text[])
),
rel AS (
	SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.reloptions, ns.oid AS nsoid, ns.q
	FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
),
line AS (
	SELECT ns.oid AS nsoid, 'schema comment ' || coalesce(d.description, '') AS l
	FROM ns
	LEFT JOIN pg_catalog.pg_description d
		ON d.objoid = ns.oid AND d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.objsubid = 0
	UNION ALL
	SELECT r.nsoid, pg_catalog.concat_ws(' ', 'rel', r.relname, r.relkind, r.relpersistence,
		pg_catalog.array_to_string(r.reloptions, ','),
		CASE WHEN r.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(r.oid) END,
		'comment', d.description)
	FROM rel r
	LEFT JOIN pg_catalog.pg_description d
		ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = 0
	UNION ALL
	SELECT r.nsoid, pg_catalog.concat_ws(' ', 'col', r.relname, a.attname,
		pg_catalog.replace(pg_catalog.format_type(a.atttypid, a.atttypmod), r.q, ''),
		CASE WHEN a.attnotnull THEN 'notnull' END,
		CASE WHEN a.attidentity <> '' THEN 'identity ' || a.attidentity::text END,
		CASE WHEN a.attgenerated <> '' THEN 'generated ' || a.attgenerated::text END,
		CASE WHEN a.attcollation <> t.typcollation THEN 'collate ' || a.attcollation::pg_catalog.regcollation::text END,
		'default', pg_catalog.replace(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), r.q, ''),
		'comment', d.description)
	FROM rel r
	JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
	LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	LEFT JOIN pg_catalog.pg_description d
		ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid = a.attnum
	WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
	UNION ALL
	SELECT r.nsoid, 'idx ' || pg_catalog.replace(pg_catalog.pg_get_indexdef(i.indexrelid), r.q, '')
	FROM rel r JOIN pg_catalog.pg_index i ON i.indexrelid = r.oid
	UNION ALL
	SELECT r.nsoid, pg_catalog.concat_ws(' ', 'con', r.relname, c.conname, c.contype,
		pg_catalog.replace(pg_catalog.pg_get_constraintdef(c.oid), r.q, ''),
		'comment', d.description)
	FROM rel r
	JOIN pg_catalog.pg_constraint c ON c.conrelid = r.oid
	LEFT JOIN pg_catalog.pg_description d
		ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objsubid = 0
	UNION ALL
	SELECT r.nsoid, pg_catalog.concat_ws(' ', 'seq', r.relname, s.seqtypid::pg_catalog.regtype::text,
		s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
	FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
	UNION ALL
	SELECT ns.oid, pg_catalog.concat_ws(' ', 'type', t.typname, t.typtype,
		(SELECT pg_catalog.string_agg(e.enumlabel::text, ',' ORDER BY e.enumsortorder)
			FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid),
		CASE WHEN t.typtype = 'd' THEN pg_catalog.replace(pg_catalog.format_type(t.typbasetype, t.typtypmod), ns.q, '') END,
		CASE WHEN t.typtype = 'd' AND t.typnotnull THEN 'notnull' END,
		CASE WHEN t.typtype = 'd' THEN pg_catalog.replace(t.typdefault, ns.q, '') END)
	FROM ns JOIN pg_catalog.pg_type t ON t.typnamespace = ns.oid
	WHERE t.typtype IN ('e', 'd')
	UNION ALL
	SELECT ns.oid, pg_catalog.concat_ws(' ', 'domcon', t.typname, c.conname,
		pg_catalog.replace(pg_catalog.pg_get_constraintdef(c.oid), ns.q, ''))
	FROM ns
	JOIN pg_catalog.pg_type t ON t.typnamespace = ns.oid AND t.typtype = 'd'
	JOIN pg_catalog.pg_constraint c ON c.contypid = t.oid
)
SELECT n.name, pg_catalog.md5(pg_catalog.string_agg(line.l, E'\n' ORDER BY line.l COLLATE "C"))
FROM pg_catalog.unnest($1::text[]) AS n(name)
LEFT JOIN ns ON ns.nspname = n.name
LEFT JOIN line ON line.nsoid = ns.oid
GROUP BY n.name`

// querier is what fingerprints needs: a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// fingerprints returns the catalog fingerprint of each named schema; a schema that does not
// exist maps to "". Run it in a transaction with jit off for many schemas (see fingerprintAll):
// the JIT compiler costs more than the query.
func fingerprints(ctx context.Context, q querier, names []string) (map[string]string, error) {
	rows, err := q.Query(ctx, fingerprintQuery, names)
	if err != nil {
		return nil, fmt.Errorf("fingerprint schemas: %w", err)
	}
	defer rows.Close()
	fps := make(map[string]string, len(names))
	for rows.Next() {
		var (
			name string
			fp   *string
		)
		if err := rows.Scan(&name, &fp); err != nil {
			return nil, fmt.Errorf("fingerprint schemas: %w", err)
		}
		if fp != nil {
			fps[name] = *fp
		} else {
			fps[name] = ""
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fingerprint schemas: %w", err)
	}
	return fps, nil
}

// fingerprintOne returns the fingerprint of one schema ("" if it does not exist).
func fingerprintOne(ctx context.Context, q querier, name string) (string, error) {
	fps, err := fingerprints(ctx, q, []string{name})
	if err != nil {
		return "", err
	}
	return fps[name], nil
}

// fingerprintMin is the fewest schemas per query in fingerprintAll: below a few thousand
// schemas one query takes a fraction of a second, and leaves the other cores to the servers'
// requests; each query also reads the catalogs whole (tens of milliseconds at 10,000 tenants).
const fingerprintMin = 2500

// fingerprintAll fingerprints many schemas, in up to Parallel queries at once (one per
// fingerprintMin schemas), each in a read-only transaction with JIT off (compiling the query
// would cost more than running it). The query's cost is PostgreSQL's, per object (deparsing each
// index, default and constraint: several seconds of one core at 10,000 tenants), and a run
// fingerprints its due schemas twice (to group them, and to check them after applying), so
// splitting a big fleet over the cores the migrator is given shortens both.
func (r *runner) fingerprintAll(ctx context.Context, names []string) (map[string]string, error) {
	parts := max(1, min(r.opts.Parallel, len(names)/fingerprintMin))
	fps := make(map[string]string, len(names))
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	for chunk := range slices.Chunk(names, max(1, (len(names)+parts-1)/parts)) {
		eg.Go(func() error {
			return pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SELECT set_config('jit', 'off', true)"); err != nil {
					return err
				}
				part, err := fingerprints(ctx, tx, chunk)
				mu.Lock()
				maps.Copy(fps, part)
				mu.Unlock()
				return err
			})
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return fps, nil
}

// scratchSchema is where desiredFingerprint builds the template; "toodoo_" names are reserved,
// so no tenant can have it, and the transaction that creates it is always rolled back.
const scratchSchema = "toodoo_migrate_scratch"

// desiredFingerprint returns the fingerprint of a schema made from the tenant template, built
// in a transaction that is rolled back.
func (r *runner) desiredFingerprint(ctx context.Context) (string, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: build the template: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // always rolled back
	if err := schemadef.Exec(ctx, tx, r.def.CreateTenantStatements(scratchSchema)); err != nil {
		return "", fmt.Errorf("migrate: build the template: %w", err)
	}
	fp, err := fingerprintOne(ctx, tx, scratchSchema)
	if err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	return fp, nil
}

// ShortHash abbreviates a fingerprint or a state hash (SharedHash, TenantHash) for people, in
// migrate's messages and in the reports the CLI prints.
func ShortHash(h string) string {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}
