package tenancy

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/toodoo/toodoo"
)

// interpret translates driver errors into toodoo errors once, here, so callers never import pgx:
// no rows becomes ENOTFOUND, a unique violation ECONFLICT and a check violation EINVALID. Other
// errors pass through unchanged (they are internal).
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

// IsUniqueViolation reports whether err is a unique violation of the named constraint or index
// ("" matches any).
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}
