package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/schemadef"
)

// Schema states, as SchemaState judges them. Every place that shows a schema's state (migrate
// status, tenant list, the platform admin page) uses these three words.
const (
	StateCurrent = "current" // the ledger records the desired state and no error since
	StateBehind  = "behind"  // the ledger records an older state, or nothing (never migrated, or created outside toodoo): the next run migrates it
	StateFailed  = "failed"  // the last attempt failed (last_error is set)
)

// SchemaState judges a schema's ledger row against the desired state hash: StateFailed if the row
// has an error, StateCurrent if it records desired, StateBehind otherwise (also when there is
// no row: pass "" for a missing applied hash or error). It is the one rule Run uses to decide
// what is due, so what people are shown and what the migrator does agree.
func SchemaState(appliedHash, lastError, desired string) string {
	switch {
	case lastError != "":
		return StateFailed
	case appliedHash != "" && appliedHash == desired:
		return StateCurrent
	default:
		return StateBehind
	}
}

// SchemaStatus is one schema's line in the ledger, judged against the desired state.
type SchemaStatus struct {
	Schema        string     `json:"schema"`
	Shared        bool       `json:"shared"`                   // "public"
	TenantStatus  string     `json:"tenant_status,omitempty"`  // active or suspended
	State         string     `json:"state"`                    // StateCurrent, StateBehind or StateFailed
	AppliedHash   *string    `json:"applied_hash"`             // the state last applied
	AppliedAt     *time.Time `json:"applied_at"`               //
	PreviousHash  *string    `json:"previous_hash,omitempty"`  // the state before the applied one
	ChangeClass   *string    `json:"change_class,omitempty"`   // from PreviousHash to AppliedHash: ClassAdditive or ClassBreaking
	AttemptedHash *string    `json:"attempted_hash,omitempty"` // the state last tried
	LastError     *string    `json:"last_error,omitempty"`     //
	LastErrorAt   *time.Time `json:"last_error_at,omitempty"`  //
	DistributedAt *time.Time `json:"distributed_at,omitempty"` // Citus: when the tenant became a distributed schema
}

// StatusReport is the ledger of every schema. It says nothing about drift: only Run with
// Options.Verify looks at the catalogs.
type StatusReport struct {
	SharedHash string         `json:"shared_hash"` // the desired state of "public"
	TenantHash string         `json:"tenant_hash"` // the desired state of every tenant
	Schemas    []SchemaStatus `json:"schemas"`     // "public" first, then tenants by name
	Current    int            `json:"current"`
	Behind     int            `json:"behind"`
	Failed     int            `json:"failed"`
}

// Status reads the ledger of "public" and every tenant that is not deleted, in one query, and
// judges each against def. It takes no lock and changes nothing. On a database the migrator has
// never run on, "public" is behind and there are no tenants.
func Status(ctx context.Context, url string, def *schemadef.Definition) (*StatusReport, error) {
	return status(ctx, url, def, func(q *shareddb.Queries) ([]SchemaStatus, error) {
		rows, err := q.LedgerFleet(ctx)
		out := make([]SchemaStatus, len(rows))
		for i, row := range rows {
			out[i] = SchemaStatus{
				Schema: row.SchemaName, TenantStatus: row.TenantStatus,
				AppliedHash: row.AppliedHash, AppliedAt: row.AppliedAt, PreviousHash: row.PreviousHash, ChangeClass: row.ChangeClass,
				AttemptedHash: row.AttemptedHash, LastError: row.LastError, LastErrorAt: row.LastErrorAt,
				DistributedAt: row.DistributedAt,
			}
		}
		return out, err
	})
}

// StatusTable is Status with only what `toodoo migrate status` prints as a table in each
// SchemaStatus: Schema, Shared, TenantStatus, State, AppliedHash, AppliedAt and LastError (with
// 10,000 tenants, the other columns are most of the bytes to read).
func StatusTable(ctx context.Context, url string, def *schemadef.Definition) (*StatusReport, error) {
	return status(ctx, url, def, func(q *shareddb.Queries) ([]SchemaStatus, error) {
		rows, err := q.LedgerFleetTable(ctx)
		out := make([]SchemaStatus, len(rows))
		for i, row := range rows {
			out[i] = SchemaStatus{Schema: row.SchemaName, TenantStatus: row.TenantStatus,
				AppliedHash: row.AppliedHash, AppliedAt: row.AppliedAt, LastError: row.LastError}
		}
		return out, err
	})
}

// status connects, reads the ledger with read and judges each schema against def.
func status(ctx context.Context, url string, def *schemadef.Definition, read func(*shareddb.Queries) ([]SchemaStatus, error)) (*StatusReport, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("migrate: parse database URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	schemas, err := read(shareddb.New(conn))
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42P01" { // undefined_table: an empty database
			return nil, fmt.Errorf("migrate: read the ledger: %w", err)
		}
		schemas = []SchemaStatus{{Schema: schemadef.SharedSchema}}
	}
	rep := &StatusReport{SharedHash: def.SharedHash(), TenantHash: def.TenantHash(), Schemas: schemas}
	for i := range schemas {
		st := &schemas[i]
		st.Shared = st.TenantStatus == ""
		hash := def.TenantHash()
		if st.Shared {
			hash = def.SharedHash()
		}
		st.State = SchemaState(deref(st.AppliedHash), deref(st.LastError), hash)
		switch st.State {
		case StateFailed:
			rep.Failed++
		case StateCurrent:
			rep.Current++
		default:
			rep.Behind++
		}
	}
	return rep, nil
}

// deref is *s, or "" for nil (a ledger column that is NULL).
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
