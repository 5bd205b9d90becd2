package tenancy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// ImportParams describes the tenant an archive becomes.
type ImportParams struct {
	Name        string // the new schema name, validated by ValidateSchemaName
	DisplayName string // default: the archive's
	Domain      string // the primary domain, as for Create
}

// ImportResult says what Import made and what it could not carry over.
type ImportResult struct {
	Tenant        Tenant
	Source        string   // the exported tenant's name
	SourceHash    string   // its schema hash; differs from the code's when the rows were migrated forward
	Migrated      bool     // the archive's schema was not the code's: rows were mapped by column name
	Defaulted     []string // columns ("table.column") and tables this schema has and the archive lacks
	Tables        []TableRows
	Members       []ImportedMember // the memberships made
	SkippedEmails []string         // members with no account in this database: not made members
	UnknownUsers  int64            // values of user columns whose user has no account here: now 0
	Domains       []string         // the archive's domains added to the tenant (besides the primary)
	TakenDomains  []string         // the archive's domains left out because another tenant has them
}

// ImportedMember is a membership that Import made.
type ImportedMember struct {
	Email string
	Role  string
}

// Import recreates the tenant archived in r (see Export) as a new tenant, atomically: in ONE
// transaction it creates the tenant exactly as Create does (registry row, primary domain,
// ledger row, a schema at the code's schema.hcl), copies each table's rows in with COPY FROM,
// moves identity sequences past the largest id, makes the archive's members members where
// their e-mail has an account here (others are listed in SkippedEmails), adds the archive's
// domains that no other tenant has (others are listed in TakenDomains), and checks the
// archive's SHA-256 trailer, which comes last. Any error, a kill included, leaves nothing.
//
// Rows are mapped by column name, so an archive of an older schema imports forward: columns
// added since take their defaults. Columns that hold a public.users.id (see userColumnMark)
// are mapped by e-mail to the users of this database; a user without an account here becomes
// 0 (UnknownUsers counts them).
//
// Returns EINVALID for a bad name, a corrupt, truncated or unknown archive, or an archive with
// a table, a column or a type that this schema lacks; ECONFLICT if the name or domain is taken.
func (db *DB) Import(ctx context.Context, def *schemadef.Definition, r io.Reader, p ImportParams) (ImportResult, error) {
	var res ImportResult
	if err := ValidateSchemaName(p.Name); err != nil {
		return res, err
	}
	a, err := newArchiveReader(r)
	if err != nil {
		return res, err
	}
	h, err := a.header()
	if err != nil {
		return res, err
	}
	primary, err := NormalizeDomain(p.Domain)
	if err != nil {
		return res, err
	}
	res.Source, res.SourceHash = h.Tenant.Name, h.SchemaHash
	res.Migrated = h.SchemaHash != def.TenantHash()
	t, err := db.Create(ctx, def, CreateParams{
		Name:        p.Name,
		DisplayName: cmp.Or(p.DisplayName, h.Tenant.DisplayName),
		Domain:      p.Domain,
		Then: func(ctx context.Context, tx *Tx, t Tenant) error {
			return importTx(ctx, tx, a, h, t, primary, &res)
		},
	})
	if err != nil {
		return ImportResult{}, err
	}
	res.Tenant = t
	return res, nil
}

// importTx fills the tenant t, just created in tx, from the archive.
func importTx(ctx context.Context, tx *Tx, a *archiveReader, h *archiveHeader, t Tenant, primary string, res *ImportResult) error {
	if _, err := tx.raw.Exec(ctx, portableText); err != nil {
		return err
	}
	live, err := liveTables(ctx, tx.raw, t.Schema)
	if err != nil {
		return err
	}
	plan, err := planImport(h, live)
	if err != nil {
		return err
	}
	res.Defaulted = plan.defaulted

	ids, known, err := mapUsers(ctx, tx.raw, h.Users)
	if err != nil {
		return err
	}
	for _, ti := range plan.tables {
		name, err := a.expect(recTable)
		if err != nil {
			return err
		}
		if string(name) != ti.archive.Name {
			return errArchive("the archive is corrupt (table %q where %q was expected).", name, ti.archive.Name)
		}
		rows := &tableRows{a: a}
		in := &firstError{r: rows}
		var remap *userRemap
		if len(ti.userFields) > 0 {
			remap = newUserRemap(rows, ti.userFields, ids)
			in.r = remap
		}
		cols := make([]string, len(ti.archive.Columns))
		for i, c := range ti.archive.Columns {
			cols[i] = pgx.Identifier{c.Name}.Sanitize()
		}
		copySQL := fmt.Sprintf("COPY %s (%s) FROM STDIN", pgx.Identifier{t.Schema, ti.archive.Name}.Sanitize(), strings.Join(cols, ", "))
		tag, err := tx.raw.Conn().PgConn().CopyFrom(ctx, in, copySQL)
		switch {
		case in.err != nil: // the archive's fault, which COPY reports as its own ("COPY from stdin failed")
			return in.err
		case err != nil:
			// Rows the database refuses (data exception, constraint violation) may be damaged
			// ones: the checksum says which it is. Not after a cancellation, which would read on.
			if state := sqlState(err); ctx.Err() == nil && (strings.HasPrefix(state, "22") || strings.HasPrefix(state, "23")) {
				if aerr := a.drain(); aerr != nil {
					return aerr
				}
			}
			return fmt.Errorf("copy rows of %s: %w", ti.archive.Name, interpret(err))
		case tag.RowsAffected() != rows.rows:
			return errArchive("the archive is corrupt (%d rows of %s where it counts %d).", tag.RowsAffected(), ti.archive.Name, rows.rows)
		}
		if remap != nil {
			res.UnknownUsers += remap.unknown
		}
		res.Tables = append(res.Tables, TableRows{ti.archive.Name, rows.rows})
		for _, c := range ti.serial {
			// Two statements, not setval over a subquery: on Citus such a statement goes whole
			// to the worker holding the table, whose copy of the sequence has that node's range.
			table := pgx.Identifier{t.Schema, ti.archive.Name}.Sanitize()
			var top *int64
			if err := tx.raw.QueryRow(ctx, fmt.Sprintf(`SELECT max(%s)::bigint FROM %s`, pgx.Identifier{c}.Sanitize(), table)).Scan(&top); err != nil {
				return fmt.Errorf("move the sequence of %s.%s: %w", ti.archive.Name, c, err)
			}
			if top == nil {
				continue
			}
			if _, err := tx.raw.Exec(ctx, `SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence($1, $2), $3)`, table, c, *top); err != nil {
				return fmt.Errorf("move the sequence of %s.%s: %w", ti.archive.Name, c, err)
			}
		}
	}
	// The trailer: the archive's checksum is checked before anything is committed.
	if _, err := a.expect(recTrailer); err != nil {
		return err
	}
	if err := importMembers(ctx, tx.q, t, h.Members, known, res); err != nil {
		return err
	}
	return importDomains(ctx, tx.raw, t, primary, h.Domains, res)
}

// firstError is an io.Reader that keeps the first error (other than io.EOF) of the reader it
// wraps.
type firstError struct {
	r   io.Reader
	err error
}

func (f *firstError) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
	return n, err
}

// tableImport is how one archive table goes into its live table.
type tableImport struct {
	archive    archiveTable
	userFields map[int]bool // positions (in the archive's columns) of user columns here
	serial     []string     // identity or serial columns among the archive's, to move on
}

type importPlan struct {
	tables    []tableImport
	defaulted []string // live columns the archive lacks, "table.column", and tables, "table (...)"
}

// planImport matches the archive's tables and columns to the live schema by name, and refuses
// what cannot go in: a table or column this schema lacks, a type that differs (other than a
// widening), or a required column the archive has no values for.
func planImport(h *archiveHeader, live []liveTable) (importPlan, error) {
	var plan importPlan
	byName := make(map[string]liveTable, len(live))
	for _, t := range live {
		byName[t.Name] = t
	}
	seen := map[string]bool{}
	for _, at := range h.Tables {
		lt, ok := byName[at.Name]
		if !ok {
			return plan, errArchive("the archive has a table %q that this schema lacks (was it exported by a newer toodoo? migrate this database first).", at.Name)
		}
		if seen[at.Name] {
			return plan, errArchive("the archive is corrupt (table %q twice).", at.Name)
		}
		seen[at.Name] = true
		cols := make(map[string]liveColumn, len(lt.Columns))
		for _, c := range lt.Columns {
			cols[c.Name] = c
		}
		ti := tableImport{archive: at, userFields: map[int]bool{}}
		has := map[string]bool{}
		for i, ac := range at.Columns {
			lc, ok := cols[ac.Name]
			switch {
			case !ok:
				return plan, errArchive("the archive has a column %s.%s that this schema lacks (was it exported by a newer toodoo? migrate this database first).", at.Name, ac.Name)
			case has[ac.Name]:
				return plan, errArchive("the archive is corrupt (column %s.%s twice).", at.Name, ac.Name)
			case !typeFits(ac.Type, lc.Type):
				return plan, errArchive("the column %s.%s is %s in the archive and %s here; it cannot be converted safely.", at.Name, ac.Name, ac.Type, lc.Type)
			}
			has[ac.Name] = true
			if lc.User {
				ti.userFields[i] = true
			}
			if lc.Serial {
				ti.serial = append(ti.serial, lc.Name)
			}
		}
		for _, lc := range lt.Columns {
			if has[lc.Name] {
				continue
			}
			if lc.Required {
				return plan, errArchive("the column %s.%s is required here and the archive has no values for it.", at.Name, lc.Name)
			}
			plan.defaulted = append(plan.defaulted, at.Name+"."+lc.Name)
		}
		plan.tables = append(plan.tables, ti)
	}
	for _, lt := range live {
		if !seen[lt.Name] {
			plan.defaulted = append(plan.defaulted, lt.Name+" (the whole table: empty)")
		}
	}
	return plan, nil
}

// widenings are the type changes whose every old value is a valid new value, read back from
// COPY's text form unchanged.
var widenings = map[string][]string{
	"smallint":          {"integer", "bigint", "numeric"},
	"integer":           {"bigint", "numeric"},
	"bigint":            {"numeric"},
	"real":              {"double precision"},
	"character varying": {"text"},
}

// typeFits says whether a column of type from can be copied into a column of type to.
func typeFits(from, to string) bool {
	if from == to {
		return true
	}
	base, _, _ := strings.Cut(from, "(")
	if slices.Contains(widenings[base], to) {
		return true
	}
	// varchar(n) into varchar(m) with m >= n, or unbounded.
	var n, m int
	if _, err := fmt.Sscanf(from, "character varying(%d)", &n); err == nil {
		if to == "character varying" {
			return true
		}
		if _, err := fmt.Sscanf(to, "character varying(%d)", &m); err == nil && m >= n {
			return true
		}
	}
	return false
}

// mapUsers finds, by e-mail (case-insensitive, as public.users' unique index has it), the
// users of this database that the archive's users are: source id -> id here, and the lowercase
// e-mails found -> id here.
func mapUsers(ctx context.Context, tx pgx.Tx, users []archiveUser) (map[int64]int64, map[string]int64, error) {
	emails := make([]string, len(users))
	for i, u := range users {
		emails[i] = strings.ToLower(u.Email)
	}
	rows, err := tx.Query(ctx, `SELECT lower(email), id FROM public.users WHERE lower(email) = ANY($1::text[])`, emails)
	if err != nil {
		return nil, nil, err
	}
	known := map[string]int64{}
	for rows.Next() {
		var e string
		var id int64
		if err := rows.Scan(&e, &id); err != nil {
			rows.Close()
			return nil, nil, err
		}
		known[e] = id
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	ids := map[int64]int64{}
	for _, u := range users {
		if id, ok := known[strings.ToLower(u.Email)]; ok {
			ids[u.ID] = id
		}
	}
	return ids, known, nil
}

// importMembers makes the archive's members members of t where their e-mail has an account
// here. Nobody is created or invited: an operator decides that (the skipped e-mails are
// reported, and `toodoo member add` or an invitation from the members page adds them).
func importMembers(ctx context.Context, q *shareddb.Queries, t Tenant, members []archiveMember, known map[string]int64, res *ImportResult) error {
	for _, m := range members {
		if m.Role != "owner" && m.Role != "member" {
			return errArchive("the archive is corrupt (member %q has role %q).", m.Email, m.Role)
		}
		id, ok := known[strings.ToLower(m.Email)]
		if !ok {
			res.SkippedEmails = append(res.SkippedEmails, m.Email)
			continue
		}
		if _, err := q.MembershipUpsert(ctx, shareddb.MembershipUpsertParams{UserID: id, TenantID: t.ID, Role: m.Role}); err != nil {
			return fmt.Errorf("add member %q: %w", m.Email, err)
		}
		res.Members = append(res.Members, ImportedMember(m))
	}
	return nil
}

// importDomains adds the archive's domains to t, except those another tenant has (each tried
// in a savepoint, so a taken one, even taken concurrently, costs only itself). t keeps the
// primary domain Create gave it.
func importDomains(ctx context.Context, tx pgx.Tx, t Tenant, primary string, domains []archiveDomain, res *ImportResult) error {
	for _, d := range domains {
		name, err := NormalizeDomain(d.Domain)
		if err != nil {
			return errArchive("the archive is corrupt (domain %q: %s).", d.Domain, toodoo.ErrorMessage(err))
		}
		if name == primary {
			continue
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		_, err = shareddb.New(interpreting{sp}).DomainInsert(ctx, shareddb.DomainInsertParams{Domain: name, TenantID: t.ID, IsPrimary: false})
		switch {
		case toodoo.ErrorCode(err) == toodoo.ECONFLICT:
			if err := sp.Rollback(ctx); err != nil {
				return err
			}
			res.TakenDomains = append(res.TakenDomains, name)
			continue
		case err != nil:
			_ = sp.Rollback(ctx)
			return fmt.Errorf("add domain %q: %w", name, err)
		}
		if err := sp.Commit(ctx); err != nil {
			return err
		}
		res.Domains = append(res.Domains, name)
	}
	return nil
}
