package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/tenancy"
)

// Addresses are proven by one-time links sent to them (public.email_tokens): a verification
// link after sign-up, a reset link on request. Each is 32 random bytes of which only the
// SHA-256 is stored, expires, works once, and is bound to one site (a workspace's host, or the
// public site): the host the mail's link opens on.

// Lifetimes of the links sent by mail.
const (
	VerifyTokenTTL = 48 * time.Hour   // a new account waits for its owner to read their mail
	ResetTokenTTL  = 30 * time.Minute // a reset link is a password in a mailbox: short
)

// The purposes of an email token (the table's check constraint).
const (
	purposeVerify = "verify"
	purposeReset  = "reset"
)

// errUnverified is Authenticate's answer to the right password of an unproven address.
var errUnverified = toodoo.Errorf(toodoo.EFORBIDDEN, "Confirm your e-mail address first: open the link we sent you. Lost it? \"Forgot your password?\" sends a link that confirms the address too.")

// errBadEmailLink is the one answer for a link that is unknown, used, expired or for another site.
var errBadEmailLink = toodoo.Errorf(toodoo.EUNAUTHORIZED, "This link is invalid, used or expired.")

// issueEmailToken stores a new token and returns its secret. site is the tenant whose host the
// link opens on (0: the public site).
func issueEmailToken(ctx context.Context, q *shareddb.Queries, purpose string, userID, site int64, ttl time.Duration) (string, error) {
	token, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	var tid *int64
	if site != 0 {
		tid = &site
	}
	err = q.EmailTokenInsert(ctx, shareddb.EmailTokenInsertParams{
		TokenHash: hash, Purpose: purpose, UserID: userID, TenantID: tid, ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		return "", fmt.Errorf("account: issue %s token: %w", purpose, err)
	}
	return token, nil
}

// emailTokenAddress returns the address behind a live token without spending it.
func (s *Service) emailTokenAddress(ctx context.Context, purpose string, site int64, token string) (string, error) {
	if !plausibleSecret(token) {
		return "", errBadEmailLink
	}
	row, err := s.q.EmailTokenGet(ctx, shareddb.EmailTokenGetParams{TokenHash: hashSecret(token), Purpose: purpose, TenantID: site})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return "", errBadEmailLink
	case err != nil:
		return "", fmt.Errorf("account: %s link: %w", purpose, err)
	}
	return row.Email, nil
}

// consumeEmailToken spends a token in tx and returns its user's id.
func consumeEmailToken(ctx context.Context, q *shareddb.Queries, purpose string, site int64, token string) (int64, error) {
	if !plausibleSecret(token) {
		return 0, errBadEmailLink
	}
	uid, err := q.EmailTokenConsume(ctx, shareddb.EmailTokenConsumeParams{TokenHash: hashSecret(token), Purpose: purpose, TenantID: site})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return 0, errBadEmailLink
	case err != nil:
		return 0, fmt.Errorf("consume %s token: %w", purpose, err)
	}
	return uid, nil
}

// CreateUnverifiedUserTx creates a user whose address is not proven yet (sign-up) and returns
// it with the secret of its verification link, valid VerifyTokenTTL on the workspace site (the
// link signs them in there). Errors as CreateUserTx.
func (s *Service) CreateUnverifiedUserTx(ctx context.Context, tx *tenancy.Tx, email, password string, site int64) (User, string, error) {
	u, err := s.CreateUserTx(ctx, tx, email, password, false)
	if err != nil {
		return User{}, "", err
	}
	q := tx.SharedQueries()
	if err := q.UserSetVerified(ctx, shareddb.UserSetVerifiedParams{ID: u.ID, EmailVerified: false}); err != nil {
		return User{}, "", fmt.Errorf("account: create unverified user: %w", err)
	}
	u.EmailVerified = false
	token, err := issueEmailToken(ctx, q, purposeVerify, u.ID, site, VerifyTokenTTL)
	if err != nil {
		return User{}, "", err
	}
	return u, token, nil
}

// VerifyAddress returns the address a live verification link on site is for, without spending
// it (the page the link opens shows a button). Returns EUNAUTHORIZED for a bad link.
func (s *Service) VerifyAddress(ctx context.Context, site int64, token string) (string, error) {
	return s.emailTokenAddress(ctx, purposeVerify, site, token)
}

// VerifyEmail spends a verification link on site and marks its user's address as proven.
// Returns the user; EUNAUTHORIZED for a link that is unknown, used, expired or for another site.
func (s *Service) VerifyEmail(ctx context.Context, site int64, token string) (User, error) {
	var u User
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		q := tx.SharedQueries()
		uid, err := consumeEmailToken(ctx, q, purposeVerify, site, token)
		if err != nil {
			return err
		}
		if err := q.UserSetVerified(ctx, shareddb.UserSetVerifiedParams{ID: uid, EmailVerified: true}); err != nil {
			return fmt.Errorf("mark verified: %w", err)
		}
		row, err := q.UserGetByID(ctx, uid)
		if err != nil {
			return fmt.Errorf("get user: %w", err)
		}
		u = userFromRow(row)
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("account: verify email: %w", err)
	}
	return u, nil
}
