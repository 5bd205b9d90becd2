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

// ResetEvery is how often a reset link may be mailed to one account: more requests within it
// are answered the same and mail nothing, so that nobody floods a mailbox through the form.
const ResetEvery = time.Minute

// errResetSentRecently is IssueResetTokenTx's ENOTFOUND when a link went out within ResetEvery.
var errResetSentRecently = toodoo.Errorf(toodoo.ENOTFOUND, "A reset link was sent to this address moments ago.")

// IssueResetTokenTx creates a password-reset link for the account with this address, valid
// ResetTokenTTL on site (0: the public site), inside tx (the caller enqueues the mail in the
// same transaction). Returns the user and the secret; ENOTFOUND when no account has the
// address or a link went to it within ResetEvery (nothing to send), which the caller must not
// reveal.
func IssueResetTokenTx(ctx context.Context, tx *tenancy.Tx, email string, site int64) (User, string, error) {
	q := tx.SharedQueries()
	row, err := q.UserGetByEmail(ctx, email)
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return User{}, "", toodoo.ErrNotFound
	case err != nil:
		return User{}, "", fmt.Errorf("account: reset: %w", err)
	}
	recent, err := q.EmailTokenRecent(ctx, shareddb.EmailTokenRecentParams{UserID: row.ID, Purpose: purposeReset, Seconds: int32(ResetEvery / time.Second)})
	if err != nil {
		return User{}, "", fmt.Errorf("account: reset: %w", err)
	}
	if recent > 0 {
		return User{}, "", errResetSentRecently
	}
	token, err := issueEmailToken(ctx, q, purposeReset, row.ID, site, ResetTokenTTL)
	if err != nil {
		return User{}, "", err
	}
	return userFromRow(row), token, nil
}

// ResetAddress returns the address a live reset link on site is for, without spending it.
// Returns EUNAUTHORIZED for a bad link.
func (s *Service) ResetAddress(ctx context.Context, site int64, token string) (string, error) {
	return s.emailTokenAddress(ctx, purposeReset, site, token)
}

// ResetPassword spends a reset link on site and sets the new password, in one transaction: as
// with SetPassword every session of the user ends and every API token is revoked, every other
// reset link of the user is spent, and the address counts as verified (the link came to it).
// Returns the user; EINVALID for a password that breaks the rules (the link
// stays usable), EUNAUTHORIZED for a link that is unknown, used, expired or for another site.
func (s *Service) ResetPassword(ctx context.Context, site int64, token, password string) (User, error) {
	if !plausibleSecret(token) {
		return User{}, errBadEmailLink
	}
	hash, err := s.hashNewPassword(password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		q := tx.SharedQueries()
		uid, err := consumeEmailToken(ctx, q, purposeReset, site, token)
		if err != nil {
			return err
		}
		if err := q.EmailTokenSpendAll(ctx, shareddb.EmailTokenSpendAllParams{UserID: uid, Purpose: purposeReset}); err != nil {
			return fmt.Errorf("spend other reset links: %w", err)
		}
		if err := q.UserSetVerified(ctx, shareddb.UserSetVerifiedParams{ID: uid, EmailVerified: true}); err != nil {
			return fmt.Errorf("mark verified: %w", err)
		}
		if u, err = setPassword(ctx, q, uid, hash); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("account: reset password: %w", err)
	}
	return u, nil
}
