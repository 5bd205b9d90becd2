package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
)

// userColumnMark is how the tenant template says that a column holds a public.users.id (there
// is deliberately no foreign key, tenant schemas being self-contained): its comment in
// schema.hcl starts with these words, as todos.created_by's does. Export lists the e-mails of
// the users such columns name, and import maps them to the users of the database it runs on.
const userColumnMark = "public.users.id"

// portableText fixes, for the transaction, the settings that change how COPY writes and reads
// values as text, so that an archive means the same in a database whose defaults differ (a
// DateStyle of "SQL, DMY" would write 04/03/2026, which "MDY" reads as April the 3rd).
const portableText = `SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; ` +
	`SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'`

// ExportSummary says what Export wrote.
type ExportSummary struct {
	Tenant     Tenant
	SchemaHash string
	Tables     []TableRows
	Members    int
	Domains    int
}

// TableRows is a table and how many rows went out of it or into it.
type TableRows struct {
	Name string
	Rows int64
}

// Export writes the tenant named name to w as an archive (see archive.go): its schema's hash,
// every table's rows (COPY ... TO STDOUT, streamed chunk by chunk, so a tenant of any size takes
// constant memory), its members' e-mails and roles, its domains, and a SHA-256 trailer.
//
// Everything is read in ONE read-only REPEATABLE READ transaction, so the archive is a
// consistent snapshot even while the tenant is in use; its tables are locked in ACCESS SHARE
// mode, which only a concurrent migration of this schema waits for. The snapshot stays open
// until w has taken everything: a slow reader holds back vacuum that long.
//
// Returns ENOTFOUND if there is no such tenant or it is deleted. An error after the first
// bytes leaves w with an archive that import refuses (it has no trailer).
func (db *DB) Export(ctx context.Context, name string, w io.Writer) (sum ExportSummary, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("tenancy: export %q: %w", name, err)
		}
	}()
	conn, err := db.acquire(ctx)
	if err != nil {
		return sum, err
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return sum, err
	}
	defer rollbackOnFailure(ctx, tx, &err)
	if _, err := tx.Exec(ctx, portableText); err != nil {
		return sum, err
	}

	row, err := shareddb.New(interpreting{tx}).TenantGetByName(ctx, name)
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return sum, errNoTenant(name)
	case err != nil:
		return sum, err
	case row.Status == StatusDeleted:
		return sum, toodoo.Errorf(toodoo.ENOTFOUND, "The tenant %q is deleted.", name)
	}
	sum.Tenant = tenantFromRow(row)
	h := archiveHeader{Format: ArchiveFormat, ExportedAt: time.Now().UTC(),
		Tenant: archiveTenant{Name: row.SchemaName, DisplayName: row.DisplayName, Status: row.Status}}
	if h.Tables, err = exportTables(ctx, tx, name); err != nil {
		return sum, err
	}
	if err := exportShared(ctx, tx, row.ID, name, &h); err != nil {
		return sum, err
	}
	sum.SchemaHash, sum.Members, sum.Domains = h.SchemaHash, len(h.Members), len(h.Domains)

	payload, err := json.Marshal(h)
	if err != nil {
		return sum, err
	}
	a, err := newArchiveWriter(w)
	if err != nil {
		return sum, err
	}
	if err := a.header(payload); err != nil {
		return sum, err
	}
	for _, t := range h.Tables {
		if err := a.record(recTable, []byte(t.Name)); err != nil {
			return sum, err
		}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = pgx.Identifier{c.Name}.Sanitize()
		}
		copySQL := fmt.Sprintf("COPY %s (%s) TO STDOUT", pgx.Identifier{name, t.Name}.Sanitize(), strings.Join(cols, ", "))
		tag, err := tx.Conn().PgConn().CopyTo(ctx, a, copySQL)
		if err != nil {
			return sum, fmt.Errorf("copy %s: %w", t.Name, err)
		}
		if err := a.endTable(tag.RowsAffected()); err != nil {
			return sum, err
		}
		sum.Tables = append(sum.Tables, TableRows{t.Name, tag.RowsAffected()})
	}
	if err := a.close(); err != nil {
		return sum, err
	}
	return sum, tx.Commit(ctx)
}

// exportTables lists the schema's tables with their columns (generated columns are left out:
// they are computed again on import), parents before the tables whose foreign keys point at
// them, and locks them against DDL for the rest of the transaction.
func exportTables(ctx context.Context, tx pgx.Tx, schema string) ([]archiveTable, error) {
	tables, err := schemaTables(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("schema %q has no tables", schema)
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{schema, t.Name}.Sanitize()
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN ACCESS SHARE MODE"); err != nil {
		return nil, fmt.Errorf("lock tables: %w", err)
	}
	// Read the columns again under the lock: a migration that committed in between is seen now,
	// and none can start until the copy is over.
	return schemaTables(ctx, tx, schema)
}

// liveColumn is a column of a table as the catalog has it now.
type liveColumn struct {
	archiveColumn
	Required bool // NOT NULL, without a default, not an identity
	Serial   bool // an identity or serial column, whose sequence import moves past the rows
}

// liveTable is a table as the catalog has it now.
type liveTable struct {
	Name    string
	Columns []liveColumn
	deps    []string // tables its foreign keys point at, in the same schema
}

func (t liveTable) archive() archiveTable {
	a := archiveTable{Name: t.Name, Columns: make([]archiveColumn, len(t.Columns))}
	for i, c := range t.Columns {
		a.Columns[i] = c.archiveColumn
	}
	return a
}

// schemaTables reads the schema's ordinary and partitioned tables (not partitions), their
// columns in order, and sorts them parents first.
func schemaTables(ctx context.Context, tx pgx.Tx, schema string) ([]archiveTable, error) {
	live, err := liveTables(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	out := make([]archiveTable, len(live))
	for i, t := range live {
		out[i] = t.archive()
	}
	return out, nil
}

func liveTables(ctx context.Context, tx pgx.Tx, schema string) ([]liveTable, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
			coalesce(starts_with(pg_catalog.col_description(c.oid, a.attnum), $2), false),
			a.attnotnull AND NOT a.atthasdef AND a.attidentity = '',
			a.attidentity <> '' OR pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident(c.relname), a.attname) IS NOT NULL,
			coalesce((SELECT array_agg(DISTINCT r.relname ORDER BY r.relname) FROM pg_catalog.pg_constraint f
				JOIN pg_catalog.pg_class r ON r.oid = f.confrelid
				WHERE f.conrelid = c.oid AND f.contype = 'f' AND r.relnamespace = c.relnamespace AND r.oid <> c.oid), '{}')
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		ORDER BY c.relname, a.attnum`, schema, userColumnMark)
	if err != nil {
		return nil, err
	}
	var tables []liveTable
	for rows.Next() {
		var table string
		var c liveColumn
		var deps []string
		if err := rows.Scan(&table, &c.Name, &c.Type, &c.User, &c.Required, &c.Serial, &deps); err != nil {
			rows.Close()
			return nil, err
		}
		if len(tables) == 0 || tables[len(tables)-1].Name != table {
			tables = append(tables, liveTable{Name: table, deps: deps})
		}
		t := &tables[len(tables)-1]
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return parentsFirst(tables), nil
}

// parentsFirst orders tables so that a table comes after those its foreign keys point at
// (by name otherwise; a cycle keeps the name order for its members).
func parentsFirst(tables []liveTable) []liveTable {
	byName := make(map[string]liveTable, len(tables))
	for _, t := range tables {
		byName[t.Name] = t
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	out := make([]liveTable, 0, len(tables))
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(t liveTable)
	visit = func(t liveTable) {
		if state[t.Name] != 0 {
			return
		}
		state[t.Name] = 1
		for _, d := range t.deps {
			if dep, ok := byName[d]; ok {
				visit(dep)
			}
		}
		state[t.Name] = 2
		out = append(out, t)
	}
	for _, t := range tables {
		visit(t)
	}
	return out
}

// exportShared fills in what the shared schema knows of the tenant: the ledger's hash and
// fingerprint, its domains, its members and the e-mails of every user its rows name.
func exportShared(ctx context.Context, tx pgx.Tx, tenantID int64, schema string, h *archiveHeader) error {
	var hash, fingerprint *string
	err := tx.QueryRow(ctx, `SELECT applied_hash, fingerprint FROM public.schema_ledger WHERE schema_name = $1`, schema).Scan(&hash, &fingerprint)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read ledger: %w", err)
	}
	h.SchemaHash, h.Fingerprint = deref(hash), deref(fingerprint)

	rows, err := tx.Query(ctx, `SELECT domain, is_primary FROM public.domains WHERE tenant_id = $1 ORDER BY is_primary DESC, domain`, tenantID)
	if err != nil {
		return err
	}
	if h.Domains, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (d archiveDomain, err error) {
		return d, r.Scan(&d.Domain, &d.Primary)
	}); err != nil {
		return fmt.Errorf("read domains: %w", err)
	}

	rows, err = tx.Query(ctx, `SELECT u.email, m.role FROM public.memberships m JOIN public.users u ON u.id = m.user_id
		WHERE m.tenant_id = $1 ORDER BY lower(u.email)`, tenantID)
	if err != nil {
		return err
	}
	if h.Members, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (m archiveMember, err error) {
		return m, r.Scan(&m.Email, &m.Role)
	}); err != nil {
		return fmt.Errorf("read members: %w", err)
	}

	// The users named by the user columns (one scan of each such column) and the members.
	named := []string{"SELECT user_id FROM public.memberships WHERE tenant_id = $1"}
	for _, t := range h.Tables {
		for _, c := range t.Columns {
			if c.User {
				named = append(named, fmt.Sprintf("SELECT %s FROM %s", pgx.Identifier{c.Name}.Sanitize(), pgx.Identifier{schema, t.Name}.Sanitize()))
			}
		}
	}
	rows, err = tx.Query(ctx, `SELECT id, email FROM public.users WHERE id IN (`+strings.Join(named, " UNION ")+`) ORDER BY id`, tenantID)
	if err != nil {
		return err
	}
	if h.Users, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (u archiveUser, err error) {
		return u, r.Scan(&u.ID, &u.Email)
	}); err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	return nil
}
