package web

import (
	"net/http"
	"strings"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
)

// membersPage is the owners' page: who may enter the workspace, and who is invited.
type membersPage struct {
	page
	Members     []memberRow
	Invitations []account.PendingInvitation
	Email       string
	Role        string
	EmailError  string
}

// memberRow is a member as the page lists them. LastOwner marks the one owner, whom the
// last-owner rule (account.ChangeRole, RemoveMember) keeps: the page says so before any click
// and offers neither the removal nor the role change.
type memberRow struct {
	account.Member
	LastOwner bool
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, status int, p *membersPage) error {
	ctx := r.Context()
	members, err := s.accounts.ListMembers(ctx, tenantFrom(ctx).ID)
	if err != nil {
		return err
	}
	if p.Invitations, err = s.accounts.ListPendingInvitations(ctx, tenantFrom(ctx).ID); err != nil {
		return err
	}
	owners := 0
	for _, m := range members {
		if m.Role == account.RoleOwner {
			owners++
		}
	}
	p.Title = "Members"
	p.Members = make([]memberRow, len(members))
	for i, m := range members {
		p.Members[i] = memberRow{Member: m, LastOwner: m.Role == account.RoleOwner && owners == 1}
	}
	if p.Role == "" {
		p.Role = account.RoleMember
	}
	return s.render(w, r, status, "members.html", p)
}

// handleMemberIndex lists the members.
func (s *Server) handleMemberIndex(w http.ResponseWriter, r *http.Request) error {
	return s.renderMembers(w, r, http.StatusOK, &membersPage{})
}

// handleMemberAdd invites an address to the workspace (handleMemberInvite): nobody becomes a
// member without accepting, and the owner gets the same answer whether the address has an
// account or not. An address that is a member already gets no invitation: the owner is told so
// (the page lists the members anyway, so this tells nothing new).
func (s *Server) handleMemberAdd(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	email, role := r.PostFormValue("email"), r.PostFormValue("role")
	p := &membersPage{Email: email, Role: role}
	refuse := func(err error) error {
		if toodoo.ErrorCode(err) == toodoo.EINVALID {
			p.EmailError = toodoo.ErrorMessage(err)
			return s.renderMembers(w, r, http.StatusBadRequest, p)
		}
		return err
	}
	if err := account.ValidateRole(role); err != nil {
		return refuse(err)
	}
	normalized, err := account.NormalizeEmail(email)
	if err != nil {
		return refuse(err)
	}
	members, err := s.accounts.ListMembers(ctx, tenantFrom(ctx).ID)
	if err != nil {
		return err
	}
	for _, m := range members {
		if strings.EqualFold(m.Email, normalized) {
			flash(r, "ok", m.Email+" is already a member of "+tenantFrom(ctx).DisplayName+", as "+withArticle(m.Role)+": nothing was sent. Change their role in the list.")
			s.redirect(w, r, "/members")
			return nil
		}
	}
	return s.handleMemberInvite(w, r, normalized, role)
}

// withArticle is a role with its article: "a member", "an owner".
func withArticle(role string) string {
	if role == account.RoleOwner {
		return "an owner"
	}
	return "a " + role
}

// handleMemberRole changes a member's role; the last owner cannot become a member.
func (s *Server) handleMemberRole(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	uid, err := routeID(r, "uid")
	if err != nil {
		return err
	}
	if err := s.accounts.ChangeRole(ctx, tenantFrom(ctx).ID, uid, r.PostFormValue("role")); err != nil {
		if toodoo.ErrorCode(err) == toodoo.EINVALID {
			flash(r, "error", toodoo.ErrorMessage(err))
			s.redirect(w, r, "/members")
			return nil
		}
		return err
	}
	flash(r, "ok", "Role changed.")
	s.redirect(w, r, "/members")
	return nil
}

// handleMemberRemove removes a member, which also ends their sessions and deletes their API
// tokens on this workspace (account.RemoveMember); the last owner cannot be removed. It acts
// only when confirmed (confirm=yes, from the list's two-step form); otherwise it asks first, on
// a page of its own.
func (s *Server) handleMemberRemove(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	uid, err := routeID(r, "uid")
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		members, err := s.accounts.ListMembers(ctx, tenantFrom(ctx).ID)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.UserID != uid {
				continue
			}
			p := &confirmPage{
				page:    page{Title: "Remove member"},
				Heading: "Remove " + m.Email + " from " + tenantFrom(ctx).DisplayName + "?",
				Message: "Their sessions and API tokens here end at once. Their to-dos stay. To come back they need a new invitation.",
				Action:  r.URL.Path, Button: "Remove " + m.Email, Back: "/members",
			}
			if uid == userFrom(ctx).ID {
				p.Heading = "Leave " + tenantFrom(ctx).DisplayName + "?"
				p.Message = "You will be signed out here, and need a new invitation to come back."
				p.Button = "Leave the workspace"
			}
			return s.render(w, r, http.StatusOK, "confirm.html", p)
		}
		return toodoo.ErrNotFound
	}
	if err := s.accounts.RemoveMember(ctx, tenantFrom(ctx).ID, uid); err != nil {
		if toodoo.ErrorCode(err) == toodoo.EINVALID {
			flash(r, "error", toodoo.ErrorMessage(err))
			s.redirect(w, r, "/members")
			return nil
		}
		return err
	}
	if uid == userFrom(ctx).ID {
		// They left: their session here has ended with the membership.
		info(ctx).Session.end()
		flash(r, "ok", "You have left "+tenantFrom(ctx).DisplayName+".")
		s.redirect(w, r, "/login")
		return nil
	}
	flash(r, "ok", "Member removed. Their sessions and API tokens here have ended.")
	s.redirect(w, r, "/members")
	return nil
}

// handleInvitationRevoke withdraws the pending invitations of an address: their links stop
// working.
func (s *Server) handleInvitationRevoke(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	email := r.PostFormValue("email")
	if err := s.accounts.RevokeInvitations(ctx, tenantFrom(ctx).ID, email); err != nil {
		return err
	}
	flash(r, "ok", "Invitation for "+strings.TrimSpace(email)+" revoked: its link no longer works.")
	s.redirect(w, r, "/members")
	return nil
}
