// Package account holds the logic for people, in the shared schema: users and their passwords,
// memberships in workspaces, browser sessions, one-time login tokens, invitations and API tokens.
//
// Users are shared by all tenants; a membership grants entry to one workspace. Every secret
// handed out (session id, login token, invitation link, API token) is 32 random bytes of which
// only the SHA-256 is stored, and each is bound to the tenant (or the public site) it was issued
// for, so it is worthless on any other host. Passwords are hashed with argon2id and never logged.
//
// Functions that must run inside someone else's transaction (sign-up runs inside tenancy.Create's
// Then callback) take a *tenancy.Tx and end in Tx; the others open their own transaction.
//
// Account is, with tenancy, one of the two owners of the shared schema: it alone reaches the
// generated queries of its tables (through tenancy's SharedQueries), and callers get account
// types back. The queries' errors arrive already translated into toodoo errors (no rows is
// toodoo.ErrNotFound), so this package does not import the driver.
package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/tenancy"
)

// MaxEmailBytes is the longest address SMTP can carry (RFC 5321's path limit less the brackets).
const MaxEmailBytes = 254

// Service is the account logic over one database.
type Service struct {
	db *tenancy.DB
	q  *shareddb.Queries // bound to the pool: a single statement needs no transaction

	// Params are the argon2id costs for new hashes; hashes made with other costs still verify
	// and are replaced at the next successful login.
	Params Params

	dummyOnce sync.Once
	dummy     string // a hash to compare against for unknown emails, so they cost the same time
}

// New returns the account service over db, with DefaultParams.
func New(db *tenancy.DB) *Service {
	return &Service{db: db, q: db.SharedQueries(), Params: DefaultParams}
}

// User is a person who can sign in. The password hash never leaves this package.
type User struct {
	ID          int64     `json:"id"`
	Email       string    `json:"email"`
	IsSuperuser bool      `json:"is_superuser"`
	CreatedAt   time.Time `json:"created_at"`
	// EmailVerified is false from sign-up until the address is proven (email.go); such a user
	// cannot sign in with a password. Loaded by the lookups that return a whole user row.
	EmailVerified bool `json:"email_verified"`
}

func userFromRow(r shareddb.User) User {
	return User{ID: r.ID, Email: r.Email, IsSuperuser: r.IsSuperuser, CreatedAt: r.CreatedAt, EmailVerified: r.EmailVerified}
}

// NormalizeEmail trims an address and checks its shape loosely (something@domain.tld: a domain
// with a dot, neither first nor last nor doubled; at most 254 bytes, no spaces or control
// characters). Case is kept as typed; uniqueness ignores it. This is the one rule for an
// address: sign-up, invitations, the CLI and the reset form all call it.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	at := strings.LastIndexByte(e, '@')
	switch {
	case e == "":
		return "", toodoo.Invalid("email", "The email address is required.")
	case len(e) > MaxEmailBytes:
		return "", toodoo.Invalid("email", "The email address is too long: at most %d characters.", MaxEmailBytes)
	case at <= 0 || at == len(e)-1:
		return "", toodoo.Invalid("email", "%q is not an email address.", e)
	case !plausibleDomain(e[at+1:]):
		return "", toodoo.Invalid("email", "%q is not an email address: the part after @ needs a dot, as in name@example.com.", e)
	case strings.IndexFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return "", toodoo.Invalid("email", "An email address cannot contain spaces or control characters.")
	}
	return e, nil
}

// plausibleDomain reports whether the part of an address after the @ looks like a domain on the
// Internet: labels separated by dots, at least two, none empty ("x", "x.", ".x" and "x..y" are
// not; mail to "ann@x" would go nowhere).
func plausibleDomain(d string) bool {
	return strings.Contains(d, ".") && !strings.HasPrefix(d, ".") && !strings.HasSuffix(d, ".") && !strings.Contains(d, "..")
}

// errDuplicateEmail is the one message for a taken address, whatever its case.
var errDuplicateEmail = toodoo.Errorf(toodoo.ECONFLICT, "A user with this email exists already.")

// errNoUser is the answer for a user id that does not exist (any more).
var errNoUser = toodoo.Errorf(toodoo.ENOTFOUND, "No such user.")

// CreateUser creates a user. Returns EINVALID for a bad email or password, ECONFLICT "A user
// with this email exists already." when the address is taken in any letter case.
func (s *Service) CreateUser(ctx context.Context, email, password string, superuser bool) (User, error) {
	return s.createUser(ctx, s.q, email, password, superuser)
}

// CreateUserTx is CreateUser inside the caller's transaction (sign-up, in tenancy.Create's Then).
func (s *Service) CreateUserTx(ctx context.Context, tx *tenancy.Tx, email, password string, superuser bool) (User, error) {
	return s.createUser(ctx, tx.SharedQueries(), email, password, superuser)
}

func (s *Service) createUser(ctx context.Context, q *shareddb.Queries, email, password string, superuser bool) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hashNewPassword(password)
	if err != nil {
		return User{}, err
	}
	row, err := q.UserInsert(ctx, shareddb.UserInsertParams{Email: email, PasswordHash: hash, IsSuperuser: superuser})
	switch {
	case toodoo.ErrorCode(err) == toodoo.ECONFLICT: // the only unique key is the email's
		return User{}, errDuplicateEmail
	case err != nil:
		return User{}, fmt.Errorf("account: create user: %w", err)
	}
	return userFromRow(row), nil
}

// SetPassword replaces a user's password and, in the same transaction, ends every session of
// theirs on every host and revokes every API token of theirs on every workspace: whoever knew
// the old password may have signed in or made a token with it. It is the one way a password
// changes (the password page, `toodoo user passwd`, a reset); the password page then starts a
// fresh session for the browser that changed it. Returns EINVALID for a password that breaks the
// rules, ENOTFOUND for an unknown user.
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) (User, error) {
	hash, err := s.hashNewPassword(password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) (err error) {
		u, err = setPassword(ctx, tx.SharedQueries(), userID, hash)
		return err
	})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return User{}, errNoUser
	case err != nil:
		return User{}, fmt.Errorf("account: set password: %w", err)
	}
	return u, nil
}

// setPassword stores a new password hash and ends what the old password opened: every session
// of the user on every host, and every API token (see README, Security model). Password changes
// (SetPassword) and resets (ResetPassword) both go through it, inside their transaction.
func setPassword(ctx context.Context, q *shareddb.Queries, userID int64, hash string) (User, error) {
	row, err := q.UserSetPassword(ctx, shareddb.UserSetPasswordParams{ID: userID, PasswordHash: hash})
	if err != nil {
		return User{}, err
	}
	if _, err := endAllSessions(ctx, q, userID); err != nil {
		return User{}, err
	}
	if _, err := q.APITokenRevokeByUser(ctx, userID); err != nil {
		return User{}, fmt.Errorf("revoke API tokens: %w", err)
	}
	return userFromRow(row), nil
}

// errWrongPassword is the one answer for an unknown email and a wrong password alike.
var errWrongPassword = toodoo.Errorf(toodoo.EUNAUTHORIZED, "Wrong email or password.")

// Authenticate checks an email and password. Returns EUNAUTHORIZED "Wrong email or password."
// for an unknown email and for a wrong password alike, after the same amount of hashing, and
// EFORBIDDEN for the right password of an account whose address is not verified yet. A hash
// made with outdated parameters is replaced on success (sessions and tokens are kept).
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	if len(password) > MaxPasswordBytes {
		return User{}, errWrongPassword
	}
	row, err := s.q.UserGetByEmail(ctx, strings.TrimSpace(email))
	if errors.Is(err, toodoo.ErrNotFound) {
		_, _ = VerifyPassword(password, s.dummyHash())
		return User{}, errWrongPassword
	}
	if err != nil {
		return User{}, fmt.Errorf("account: authenticate: %w", err)
	}
	ok, err := VerifyPassword(password, row.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("account: authenticate user %d: %w", row.ID, err)
	}
	if !ok {
		return User{}, errWrongPassword
	}
	if !row.EmailVerified {
		return User{}, errUnverified // told only to someone who knows the password
	}
	if s.Params.NeedsRehash(row.PasswordHash) {
		// Best effort: the login succeeds even if the new hash cannot be stored.
		if hash, err := s.Params.Hash(password); err == nil {
			_ = s.q.UserRehashPassword(ctx, shareddb.UserRehashPasswordParams{ID: row.ID, NewHash: hash, OldHash: row.PasswordHash})
		}
	}
	return userFromRow(row), nil
}

// dummyHash is a valid hash under the current parameters, made once.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = s.Params.Hash("toodoo-dummy-password")
	})
	return s.dummy
}

// GetUser returns a user by id. Returns ENOTFOUND if there is none.
func (s *Service) GetUser(ctx context.Context, id int64) (User, error) {
	row, err := s.q.UserGetByID(ctx, id)
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return User{}, errNoUser
	case err != nil:
		return User{}, fmt.Errorf("account: get user: %w", err)
	}
	return userFromRow(row), nil
}

// GetUserByEmail returns a user by email, in any letter case. Returns ENOTFOUND "No user with
// email X." if there is none.
func (s *Service) GetUserByEmail(ctx context.Context, email string) (User, error) {
	email = strings.TrimSpace(email)
	row, err := s.q.UserGetByEmail(ctx, email)
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return User{}, toodoo.Errorf(toodoo.ENOTFOUND, "No user with email %s.", email)
	case err != nil:
		return User{}, fmt.Errorf("account: get user by email: %w", err)
	}
	return userFromRow(row), nil
}
