package tenancy

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// scopeTx is the tenantdb.DBTX of one InTx: the transaction begins with its first statement.
// BEGIN, the search_path (set_config(..., true), which is SET LOCAL taking a bind parameter) and
// that statement travel in one pipeline, one round trip instead of two. Later statements run in
// the transaction as usual. Nothing session-level is set, and nothing runs outside the
// transaction: the path dies with it, behind PgBouncer too.
//
// A read scope (InReadTx, when DB.implicitReads) has no BEGIN and no COMMIT: each statement is
// its own implicit transaction, one pipeline of [set_config of search_path and of
// transaction_read_only, both local] + the statement + one Sync. In the extended protocol the
// messages up to a Sync are one implicit transaction (a simple-protocol batch, one query
// string, is one too), so both settings die at the Sync as SET LOCAL dies at COMMIT, and
// PgBouncer in transaction mode, which hands the server connection back at the idle
// ReadyForQuery after that Sync, sees one transaction. At READ COMMITTED each statement of a
// transaction takes its own snapshot anyway, so a read-only callback loses no consistency; what
// it loses is the locks held between its statements (a schema dropped in between fails the
// next statement, as it would fail the next request). The API list costs one round trip and the
// page one per query, instead of one more for COMMIT.
//
// A statement that pgx would have to prepare (or describe) first cannot be pipelined: pgx sends
// those before the batch, when the connection's search_path is still empty, and the server
// would not find the tenant's tables. So the first time a connection runs a statement in a
// scope, BEGIN [READ ONLY]; SET LOCAL goes alone first, as it always did, and the statement is
// prepared inside the transaction (a read scope then stays in that transaction and commits it);
// connState remembers it for the next time (exec and simple_protocol modes prepare nothing, and
// always pipeline).
type scopeTx struct {
	conn   *pgx.Conn
	state  *connState
	opts   pgx.TxOptions // AccessMode only: the begin query is built here
	path   string        // the quoted schema name
	always bool          // the exec mode prepares nothing: every first statement is pipelined

	// implicit: a read scope whose statements are each an implicit transaction (see above), as
	// long as tx is nil.
	implicit bool
	ok       bool // a statement succeeded (for DB.entered when nothing commits)

	tx      pgx.Tx           // the transaction, once begun
	pending pgx.BatchResults // the pipeline, until its statement's result has been read
}

// scopeStateKey is the key of a connection's connState in pgconn's CustomData.
const scopeStateKey = "toodoo/tenancy.scope"

// connState is what tenancy keeps about one pooled connection, in its CustomData (so it lives
// and dies with the connection; only the goroutine holding the connection touches it).
type connState struct {
	known   map[string]struct{} // statements this connection has prepared in a tenant scope
	schemas map[string]struct{} // tenant schemas it has entered (see DB.maxConnSchemas)
}

func stateOf(c *pgx.Conn) *connState {
	data := c.PgConn().CustomData()
	if s, ok := data[scopeStateKey].(*connState); ok {
		return s
	}
	s := &connState{known: map[string]struct{}{}, schemas: map[string]struct{}{}}
	data[scopeStateKey] = s
	return s
}

// readScopeSQL scopes an implicit transaction: the tenant's path and read-only, both local to
// it (the transaction has taken no snapshot yet, so transaction_read_only may still be set).
const readScopeSQL = "SELECT set_config('search_path', $1, true), set_config('transaction_read_only', 'on', true)"

// begin starts the transaction for the statement sql. It returns the pipeline's results,
// positioned at the statement's, or nil when the transaction was begun on its own (the
// statement then runs on s.tx). In an implicit read scope the pipeline is the transaction and
// s.tx stays nil, so the next statement comes back here.
func (s *scopeTx) begin(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if _, known := s.state.known[sql]; s.always || known {
		b := &pgx.Batch{}
		if s.implicit {
			b.Queue(readScopeSQL, s.path)
		} else {
			b.BeginTx(pgx.TxOptions{AccessMode: s.opts.AccessMode})
			b.Queue("SELECT set_config('search_path', $1, true)", s.path)
		}
		b.Queue(sql, args...)
		br := s.conn.SendBatch(ctx, b)
		if !s.implicit {
			s.tx = br.Tx()
		}
		_, err := br.Exec()
		if err == nil && !s.implicit {
			_, err = br.Exec()
		}
		if err == nil {
			s.pending = br
			return br, nil
		}
		cerr := br.Close()
		var pre pgx.ErrPreprocessingBatch
		if !errors.As(err, &pre) {
			return nil, firstErr(err, cerr)
		}
		// pgx no longer had sql prepared (its cache is bounded) and tried to prepare it before
		// the batch, which failed and began nothing: begin on its own instead.
		delete(s.state.known, sql)
	}
	opts := s.opts
	begin := "BEGIN"
	if opts.AccessMode == pgx.ReadOnly {
		begin = "BEGIN READ ONLY"
	}
	opts.BeginQuery = begin + "; SET LOCAL search_path TO " + s.path
	tx, err := s.conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	s.tx = tx
	return nil, nil
}

// settle reads what is left of the pipeline, so that the connection can take the next
// statement.
func (s *scopeTx) settle() error {
	if s.pending == nil {
		return nil
	}
	br := s.pending
	s.pending = nil
	return br.Close()
}

// ran records the outcome of sql's run as a first statement (or in a read scope, any): once it
// succeeded pgx has it prepared (in the cache modes); after an error pgx may have dropped it.
func (s *scopeTx) ran(sql string, err error) {
	if err != nil {
		delete(s.state.known, sql)
		return
	}
	s.state.known[sql] = struct{}{}
	s.ok = true
}

func (s *scopeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := s.settle(); err != nil {
		return pgconn.CommandTag{}, err
	}
	if s.tx != nil {
		tag, err := s.tx.Exec(ctx, sql, args...)
		if s.implicit {
			s.ran(sql, err)
		}
		return tag, err
	}
	br, err := s.begin(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	var tag pgconn.CommandTag
	if br != nil {
		tag, err = br.Exec()
		err = firstErr(err, s.settle())
	} else {
		tag, err = s.tx.Exec(ctx, sql, args...)
	}
	s.ran(sql, err)
	return tag, err
}

func (s *scopeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := s.settle(); err != nil {
		return nil, err
	}
	var br pgx.BatchResults
	if s.tx == nil {
		var err error
		if br, err = s.begin(ctx, sql, args); err != nil {
			return nil, err
		}
	} else if !s.implicit {
		return s.tx.Query(ctx, sql, args...)
	}
	if br == nil {
		// In a transaction: begun for this statement, or (in a read scope that fell back) for an
		// earlier one; a read scope records each statement, so that the next one pipelines it.
		rows, err := s.tx.Query(ctx, sql, args...)
		if err != nil {
			s.ran(sql, err)
			return nil, err
		}
		return &scopeRows{Rows: rows, s: s, sql: sql}, nil
	}
	rows, err := br.Query()
	if err != nil {
		err = firstErr(err, s.settle())
		s.ran(sql, err)
		return nil, err
	}
	return &scopeRows{Rows: rows, s: s, sql: sql}, nil
}

func (s *scopeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := s.settle(); err != nil {
		return errRow{err}
	}
	if s.tx != nil && !s.implicit {
		return s.tx.QueryRow(ctx, sql, args...)
	}
	rows, err := s.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return scopeRow{rows.(*scopeRows)} // a first statement's, or a read scope's, are scopeRows
}

// scopeRows are the rows of a transaction's first statement, or of any statement of a read
// scope: once read to the end (or closed), the pipeline is settled and the statement's outcome
// recorded.
type scopeRows struct {
	pgx.Rows
	s    *scopeTx
	sql  string
	done bool
	err  error
}

func (r *scopeRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *scopeRows) Close() {
	if r.done {
		return
	}
	r.done = true
	r.Rows.Close()
	r.err = firstErr(r.Rows.Err(), r.s.settle())
	r.s.ran(r.sql, r.err)
}

func (r *scopeRows) Err() error {
	if r.done {
		return r.err
	}
	return r.Rows.Err()
}

// scopeRow is QueryRow on scopeRows, with pgx's semantics: ErrNoRows when there is none.
type scopeRow struct{ rows *scopeRows }

func (r scopeRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// firstErr returns err, or else closeErr: closing a failed pipeline reports its error again.
func firstErr(err, closeErr error) error {
	if err != nil {
		return err
	}
	return closeErr
}
