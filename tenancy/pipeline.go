package tenancy

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// scopeTx is the tenantdb.DBTX of one InTx: the transaction begins with its first statement.
// BEGIN, the search_path (set_config(..., true), which is SET LOCAL taking a bind parameter) and
// that statement travel in one pipeline, one round trip instead of two: a read-only page that
// runs one query costs the pipeline and COMMIT. Later statements run in the transaction as
// usual. Nothing session-level is set, and nothing runs outside the transaction: the path dies
// with it, behind PgBouncer too.
//
// A statement that pgx would have to prepare (or describe) first cannot be pipelined: pgx sends
// those before the batch, when the connection's search_path is still empty, and the server
// would not find the tenant's tables. So the first time a connection runs a statement in a
// scope, BEGIN; SET LOCAL goes alone first, as it always did, and the statement is prepared
// inside the transaction; connState remembers it for the next time (exec and simple_protocol
// modes prepare nothing, and always pipeline).
type scopeTx struct {
	conn   *pgx.Conn
	state  *connState
	opts   pgx.TxOptions // AccessMode only: the begin query is built here
	path   string        // the quoted schema name
	always bool          // the exec mode prepares nothing: every first statement is pipelined

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

// begin starts the transaction for the first statement sql. It returns the pipeline's results,
// positioned at the statement's, or nil when the transaction was begun on its own (the
// statement then runs on s.tx).
func (s *scopeTx) begin(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if _, known := s.state.known[sql]; s.always || known {
		b := &pgx.Batch{}
		b.BeginTx(pgx.TxOptions{AccessMode: s.opts.AccessMode})
		b.Queue("SELECT set_config('search_path', $1, true)", s.path)
		b.Queue(sql, args...)
		br := s.conn.SendBatch(ctx, b)
		s.tx = br.Tx()
		_, err := br.Exec()
		if err == nil {
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
		// the BEGIN, which failed and began nothing: begin on its own instead.
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

// ran records the outcome of sql's first run on this connection: once it succeeded pgx has it
// prepared (in the cache modes); after an error pgx may have dropped it.
func (s *scopeTx) ran(sql string, err error) {
	if err != nil {
		delete(s.state.known, sql)
		return
	}
	s.state.known[sql] = struct{}{}
}

func (s *scopeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := s.settle(); err != nil {
		return pgconn.CommandTag{}, err
	}
	if s.tx != nil {
		return s.tx.Exec(ctx, sql, args...)
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
	if s.tx != nil {
		return s.tx.Query(ctx, sql, args...)
	}
	br, err := s.begin(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	if br == nil {
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
	if s.tx != nil {
		return s.tx.QueryRow(ctx, sql, args...)
	}
	rows, err := s.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return scopeRow{rows.(*scopeRows)} // the first statement's rows are always scopeRows
}

// scopeRows are the rows of a transaction's first statement: once read to the end (or
// closed), the pipeline is settled and the statement's outcome recorded.
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
