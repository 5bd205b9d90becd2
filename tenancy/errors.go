package tenancy

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo"
)

// interpret translates driver errors into toodoo errors once, here, so callers never import pgx:
// no rows becomes toodoo.ErrNotFound, a unique violation ECONFLICT, a foreign-key violation
// (a row refers to one that is gone) ENOTFOUND and a check violation EINVALID. Other errors pass
// through unchanged (they are internal). Every generated shared query runs through it (see
// interpreting), and so does the error of every InTx callback.
func interpret(err error) error {
	if err == nil {
		return nil
	}
	var te *toodoo.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return toodoo.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23503": // foreign_key_violation
			return &wrapped{toodoo.Errorf(toodoo.ENOTFOUND, "That refers to something that does not exist."), err}
		case "23505": // unique_violation
			return &wrapped{toodoo.Errorf(toodoo.ECONFLICT, "That already exists."), err}
		case "23514": // check_violation
			return &wrapped{toodoo.Errorf(toodoo.EINVALID, "The value breaks a rule (%s).", pgErr.ConstraintName), err}
		}
	}
	return err
}

// wrapped is a toodoo error that keeps the driver error for logs (errors.Is/As see both).
type wrapped struct {
	public *toodoo.Error
	cause  error
}

func (w *wrapped) Error() string   { return w.public.Message + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.public, w.cause} }

// constraint returns the name of the constraint or index that a database error violated ("" if
// none), to tell apart the conflicts of a statement that writes several tables.
func constraint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.ConstraintName
	}
	return ""
}

// sqlState returns the SQLSTATE of a database error ("" if err is not one), for the raw DDL
// statements of provisioning, which do not run through interpret.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
