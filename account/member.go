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

// Roles in a workspace. Owners manage members; both roles use the to-dos.
const (
	RoleOwner  = "owner"
	RoleMember = "member"
)

// ValidateRole returns EINVALID unless role is RoleOwner or RoleMember.
func ValidateRole(role string) error {
	if role != RoleOwner && role != RoleMember {
		return toodoo.Invalid("role", "Unknown role %q: use owner or member.", role)
	}
	return nil
}

// Membership says that a user may enter a workspace, and as what.
type Membership struct {
	UserID   int64  `json:"user_id"`
	TenantID int64  `json:"tenant_id"`
	Role     string `json:"role"`
}

// Member is a row of a workspace's member list.
type Member struct {
	UserID    int64     `json:"user_id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// errLastOwner is the rule that keeps every workspace manageable.
var errLastOwner = toodoo.Invalid("role", "A workspace cannot lose its last owner: make someone else an owner first.")

// errNotMember is a user without a membership where one was expected.
var errNotMember = toodoo.Errorf(toodoo.ENOTFOUND, "That user is not a member of this workspace.")

// AddMember gives the user with this email the role in the workspace; if they are a member
// already, their role changes (under the last-owner rule). Returns ENOTFOUND "No user with email
// X." for an unknown email, ENOTFOUND for an unknown or deleted workspace, EINVALID for an
// unknown role or when the change would leave the workspace without an owner.
func (s *Service) AddMember(ctx context.Context, tenantID int64, email, role string) (Member, error) {
	if err := ValidateRole(role); err != nil {
		return Member{}, err
	}
	u, err := s.GetUserByEmail(ctx, email)
	if err != nil {
		return Member{}, err
	}
	err = s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		return AddMemberTx(ctx, tx, tenantID, u.ID, role)
	})
	if err != nil {
		return Member{}, fmt.Errorf("account: add member: %w", err)
	}
	return Member{UserID: u.ID, Email: u.Email, Role: role}, nil
}

// AddMemberTx is AddMember by user id inside the caller's transaction (sign-up makes the new
// user the owner inside tenancy.Create's Then). It locks the tenant row until the transaction
// ends.
func AddMemberTx(ctx context.Context, tx *tenancy.Tx, tenantID, userID int64, role string) error {
	q := tx.SharedQueries()
	if err := ValidateRole(role); err != nil {
		return err
	}
	if err := lockTenant(ctx, q, tenantID); err != nil {
		return err
	}
	if err := checkOwnerKept(ctx, q, tenantID, userID, role); err != nil && !errors.Is(err, errNotMember) {
		return err
	}
	_, err := q.MembershipUpsert(ctx, shareddb.MembershipUpsertParams{UserID: userID, TenantID: tenantID, Role: role})
	switch {
	case toodoo.ErrorCode(err) == toodoo.ENOTFOUND: // a foreign-key violation: the tenant is locked, so the user is gone
		return errNoUser
	case err != nil:
		return fmt.Errorf("upsert membership: %w", err)
	}
	return nil
}

// ChangeRole changes a member's role. Returns ENOTFOUND if the user is not a member, EINVALID
// for an unknown role or when the last owner would become a member.
func (s *Service) ChangeRole(ctx context.Context, tenantID, userID int64, role string) error {
	if err := ValidateRole(role); err != nil {
		return err
	}
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		q := tx.SharedQueries()
		if err := lockTenant(ctx, q, tenantID); err != nil {
			return err
		}
		if err := checkOwnerKept(ctx, q, tenantID, userID, role); err != nil {
			return err
		}
		_, err := q.MembershipUpsert(ctx, shareddb.MembershipUpsertParams{UserID: userID, TenantID: tenantID, Role: role})
		return err
	})
	if err != nil {
		return fmt.Errorf("account: change role: %w", err)
	}
	return nil
}

// RemoveMember ends a user's membership and, in the same transaction, deletes their API tokens
// and ends their sessions on that workspace: deleted, not suspended, so adding them back later
// revives none of them. Returns ENOTFOUND if the user is not a member, EINVALID if they are the
// workspace's last owner.
func (s *Service) RemoveMember(ctx context.Context, tenantID, userID int64) error {
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		q := tx.SharedQueries()
		if err := lockTenant(ctx, q, tenantID); err != nil {
			return err
		}
		if err := checkOwnerKept(ctx, q, tenantID, userID, ""); err != nil {
			return err
		}
		if _, err := q.MembershipDelete(ctx, shareddb.MembershipDeleteParams{UserID: userID, TenantID: tenantID}); err != nil {
			return err
		}
		if _, err := q.APITokenDeleteByMember(ctx, shareddb.APITokenDeleteByMemberParams{UserID: userID, TenantID: tenantID}); err != nil {
			return fmt.Errorf("delete API tokens: %w", err)
		}
		if _, err := q.SessionDeleteByMember(ctx, shareddb.SessionDeleteByMemberParams{UserID: userID, TenantID: &tenantID}); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("account: remove member: %w", err)
	}
	return nil
}

// lockTenant locks the tenant row, which serialises membership changes of one workspace (two
// owners demoting each other at once would otherwise both see another owner left). Returns
// ENOTFOUND for an unknown or deleted workspace.
func lockTenant(ctx context.Context, q *shareddb.Queries, tenantID int64) error {
	status, err := q.MembershipLockTenantStatus(ctx, tenantID)
	if errors.Is(err, toodoo.ErrNotFound) || (err == nil && status == tenancy.StatusDeleted) {
		return toodoo.Errorf(toodoo.ENOTFOUND, "No such workspace.")
	}
	if err != nil {
		return fmt.Errorf("lock tenant %d: %w", tenantID, err)
	}
	return nil
}

// checkOwnerKept returns errLastOwner if giving userID newRole ("" = removing them) would leave
// the workspace without an owner, and errNotMember if userID is not a member. The caller holds
// the tenant lock.
func checkOwnerKept(ctx context.Context, q *shareddb.Queries, tenantID, userID int64, newRole string) error {
	m, err := q.MembershipGet(ctx, shareddb.MembershipGetParams{UserID: userID, TenantID: tenantID})
	if errors.Is(err, toodoo.ErrNotFound) {
		return errNotMember
	}
	if err != nil {
		return fmt.Errorf("get membership: %w", err)
	}
	if m.Role != RoleOwner || newRole == RoleOwner {
		return nil
	}
	owners, err := q.MembershipCountOwners(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if owners <= 1 {
		return errLastOwner
	}
	return nil
}

// Membership returns the user's membership in the workspace, for access checks. Returns
// ENOTFOUND if there is none. (Superusers enter every workspace without one: the caller checks
// User.IsSuperuser first.)
func (s *Service) Membership(ctx context.Context, userID, tenantID int64) (Membership, error) {
	m, err := s.q.MembershipGet(ctx, shareddb.MembershipGetParams{UserID: userID, TenantID: tenantID})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return Membership{}, errNotMember
	case err != nil:
		return Membership{}, fmt.Errorf("account: membership: %w", err)
	}
	return Membership{UserID: m.UserID, TenantID: m.TenantID, Role: m.Role}, nil
}

// ListMembers lists a workspace's members, owners first, then by email.
func (s *Service) ListMembers(ctx context.Context, tenantID int64) ([]Member, error) {
	rows, err := s.q.MembershipListByTenant(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("account: list members: %w", err)
	}
	members := make([]Member, len(rows))
	for i, r := range rows {
		members[i] = Member{UserID: r.UserID, Email: r.Email, Role: r.Role, CreatedAt: r.CreatedAt}
	}
	return members, nil
}

// Workspace is a workspace a user may enter, as their home page lists it.
type Workspace struct {
	TenantID      int64  `json:"tenant_id"`
	DisplayName   string `json:"display_name"`
	Status        string `json:"status"`         // tenancy.StatusActive or StatusSuspended
	PrimaryDomain string `json:"primary_domain"` // "" if it has none
	Role          string `json:"role"`
}

// ListWorkspaces lists the workspaces that are not deleted of which the user is a member, by
// display name.
func (s *Service) ListWorkspaces(ctx context.Context, userID int64) ([]Workspace, error) {
	rows, err := s.q.MembershipListByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("account: list workspaces: %w", err)
	}
	list := make([]Workspace, len(rows))
	for i, r := range rows {
		list[i] = Workspace{TenantID: r.ID, DisplayName: r.DisplayName, Status: r.Status, PrimaryDomain: r.PrimaryDomain, Role: r.Role}
	}
	return list, nil
}
