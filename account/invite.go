package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/tenancy"
)

// Membership by consent: an owner never adds a person directly from the web. Adding an address
// always creates an invitation, mailed to that address (the caller queues the mail in the same
// transaction), whether or not the address has an account, so the owner learns nothing about
// accounts. The person joins by accepting it: signed in as that verified address
// (AcceptInvitationAs), or, when no account has the address, by creating one
// (AcceptInvitation: the link came by mail, so the address is proven).

// InviteTx invites email to tenantID as role, inside tx, and returns the secret of the link
// (valid InvitationTTL, on this tenant only). Returns EINVALID for a bad email or role.
func InviteTx(ctx context.Context, tx *tenancy.Tx, tenantID int64, email, role string, invitedBy int64) (string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if err := ValidateRole(role); err != nil {
		return "", err
	}
	token, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	var by *int64
	if invitedBy != 0 {
		by = &invitedBy
	}
	err = tx.SharedQueries().InvitationInsert(ctx, shareddb.InvitationInsertParams{
		TokenHash: hash, TenantID: tenantID, Email: email, Role: role, InvitedBy: by, ExpiresAt: time.Now().Add(InvitationTTL),
	})
	if err != nil {
		return "", fmt.Errorf("account: invite: %w", err)
	}
	return token, nil
}

// errNotInvitee is the answer when the person accepting is not the invited address.
var errNotInvitee = toodoo.Errorf(toodoo.EFORBIDDEN, "This invitation is for another e-mail address.")

// AcceptInvitationAs spends an invitation to tenantID for the user u, who has proven to be its
// address (signed in with its password, and verified): in one transaction the invitation is
// used and the membership created with the invited role (an existing membership takes the role,
// under the last-owner rule). Returns ENOTFOUND for a bad invitation, EFORBIDDEN if u's address
// is not the invited one or is not verified.
func (s *Service) AcceptInvitationAs(ctx context.Context, tenantID int64, token string, u User) (Membership, error) {
	if !plausibleSecret(token) {
		return Membership{}, errBadInvitation
	}
	var m Membership
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		q := tx.SharedQueries()
		inv, err := consumeInvitation(ctx, q, tenantID, token)
		if err != nil {
			return err
		}
		verified, err := q.UserIsVerified(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("user %d: %w", u.ID, err)
		}
		if !strings.EqualFold(inv.Email, u.Email) {
			return errNotInvitee
		}
		if !verified {
			return errUnverified
		}
		if err := AddMemberTx(ctx, tx, inv.TenantID, u.ID, inv.Role); err != nil {
			return err
		}
		m = Membership{UserID: u.ID, TenantID: inv.TenantID, Role: inv.Role}
		return nil
	})
	if err != nil {
		return Membership{}, fmt.Errorf("account: accept invitation: %w", err)
	}
	return m, nil
}

// consumeInvitation spends an invitation to tenantID inside the caller's transaction. Returns
// errBadInvitation (ENOTFOUND) for one that is unknown, used, expired or for another workspace.
func consumeInvitation(ctx context.Context, q *shareddb.Queries, tenantID int64, token string) (shareddb.InvitationConsumeRow, error) {
	inv, err := q.InvitationConsume(ctx, shareddb.InvitationConsumeParams{TokenHash: hashSecret(token), TenantID: tenantID})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return inv, errBadInvitation
	case err != nil:
		return inv, fmt.Errorf("consume invitation: %w", err)
	}
	return inv, nil
}
