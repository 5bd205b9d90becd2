package web

import (
	"net/http"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
)

// membersPage is the owners' page: who may enter the workspace.
type membersPage struct {
	page
	Members    []account.Member
	Email      string
	Role       string
	EmailError string
}

func (s *Server) renderMembers(w http.ResponseWriter, r *http.Request, status int, p *membersPage) error {
	ctx := r.Context()
	members, err := s.accounts.ListMembers(ctx, tenantFrom(ctx).ID)
	if err != nil {
		return err
	}
	p.Title = "Members"
	p.Members = members
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
// account or not.
func (s *Server) handleMemberAdd(w http.ResponseWriter, r *http.Request) error {
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
	return s.handleMemberInvite(w, r, normalized, role)
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
// tokens on this workspace (account.RemoveMember); the last owner cannot be removed.
func (s *Server) handleMemberRemove(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	uid, err := routeID(r, "uid")
	if err != nil {
		return err
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
