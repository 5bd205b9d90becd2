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

// PendingInvitation is an invitation not accepted yet, as the members page lists it: one per
// address, the newest.
type PendingInvitation struct {
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ListPendingInvitations lists tenantID's live invitations (not used, not expired), by address.
func (s *Service) ListPendingInvitations(ctx context.Context, tenantID int64) ([]PendingInvitation, error) {
	rows, err := s.q.InvitationListPending(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("account: list invitations: %w", err)
	}
	out := make([]PendingInvitation, len(rows))
	for i, r := range rows {
		out[i] = PendingInvitation{Email: r.Email, Role: r.Role, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
	}
	return out, nil
}

// RevokeInvitations withdraws every live invitation of email (in any letter case) to tenantID:
// their links stop working. Returns ENOTFOUND if there was none.
func (s *Service) RevokeInvitations(ctx context.Context, tenantID int64, email string) error {
	n, err := s.q.InvitationRevoke(ctx, shareddb.InvitationRevokeParams{TenantID: tenantID, Email: strings.TrimSpace(email)})
	if err != nil {
		return fmt.Errorf("account: revoke invitations: %w", err)
	}
	if n == 0 {
		return toodoo.Errorf(toodoo.ENOTFOUND, "There is no pending invitation for this address.")
	}
	return nil
}
