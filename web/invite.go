package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/tenancy"
)

// Membership by consent (finding 3): an owner adds an address on /members, which always mails
// an invitation, whether or not the address has an account, and always gives the owner the
// same answer. The person behind the address joins by accepting it on the workspace's host:
// with the password of their account, which must be verified, or, when no account has the
// address, by choosing one (the link came to the address, which proves it).

// invitePage is the page an invitation link opens.
type invitePage struct {
	page
	Token         string
	Email         string
	Role          string
	HasAccount    bool // the address has an account: accept with its password
	PasswordError string
}

// handleMemberInvite is the owner's "Add member": it queues the invitation mail in the
// transaction that stores the invitation, and answers the same for every well-formed address.
func (s *Server) handleMemberInvite(w http.ResponseWriter, r *http.Request, email, role string) error {
	ctx := r.Context()
	t := tenantFrom(ctx)
	inviter := userFrom(ctx)
	base := s.siteURL(r, tenancy.NormalizeHost(r.Host))
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		token, err := account.InviteTx(ctx, tx, t.ID, email, role, inviter.ID)
		if err != nil {
			return err
		}
		link := base + "/invite?t=" + url.QueryEscape(token)
		return tx.Enqueue(ctx, mail.Invitation(email, inviter.Email, t.DisplayName, role, link, account.InvitationTTL))
	})
	if err != nil {
		return err
	}
	flash(r, "ok", "Invitation sent to "+email+": they join as "+withArticle(role)+" when they accept it (the link works for 7 days).")
	s.redirect(w, r, "/members")
	return nil
}

func (s *Server) renderInvite(w http.ResponseWriter, r *http.Request, status int, token string, inv account.Invitation, pwErr string) error {
	ctx := r.Context()
	_, err := s.accounts.GetUserByEmail(ctx, inv.Email)
	if err != nil && toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		return err
	}
	return s.render(w, r, status, "invite.html", &invitePage{page: page{Title: "Join " + tenantFrom(ctx).DisplayName},
		Token: token, Email: inv.Email, Role: inv.Role, HasAccount: err == nil, PasswordError: pwErr})
}

// handleInviteShow shows an invitation (without spending it).
func (s *Server) handleInviteShow(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.URL.Query().Get("t")
	inv, err := s.accounts.GetInvitation(ctx, tenantFrom(ctx).ID, token)
	if err != nil {
		return err
	}
	return s.renderInvite(w, r, http.StatusOK, token, inv, "")
}

// handleInviteAccept accepts an invitation and signs the person in: with the password of the
// invited address's account (verified), or by creating the account. A password is checked here,
// so the login's limits apply, per client and per account.
func (s *Server) handleInviteAccept(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limitClient(ctx, account.LoginClientScope); err != nil {
		return err
	}
	t := tenantFrom(ctx)
	token, password := r.PostFormValue("t"), r.PostFormValue("password")
	inv, err := s.accounts.GetInvitation(ctx, t.ID, token)
	if err != nil {
		return err
	}
	var u account.User
	existing, err := s.accounts.GetUserByEmail(ctx, inv.Email)
	switch toodoo.ErrorCode(err) {
	case "":
		if err := s.reserveLogin(ctx, existing.Email); err != nil {
			return err
		}
		if u, err = s.accounts.Authenticate(ctx, inv.Email, password); err != nil {
			switch toodoo.ErrorCode(err) {
			case toodoo.EUNAUTHORIZED:
				return s.renderInvite(w, r, http.StatusUnauthorized, token, inv, "That is not the password of this account.")
			case toodoo.EFORBIDDEN: // the right password of an unverified account
				return s.renderInvite(w, r, http.StatusForbidden, token, inv, toodoo.ErrorMessage(err))
			}
			return err
		}
		if err := s.loginSucceeded(ctx, existing.Email); err != nil {
			return err
		}
		if _, err := s.accounts.AcceptInvitationAs(ctx, t.ID, token, u); err != nil {
			return err
		}
	case toodoo.ENOTFOUND:
		if u, _, err = s.accounts.AcceptInvitation(ctx, t.ID, token, password); err != nil {
			if toodoo.ErrorCode(err) == toodoo.EINVALID {
				return s.renderInvite(w, r, http.StatusBadRequest, token, inv, toodoo.ErrorMessage(err))
			}
			return err
		}
	default:
		return err
	}
	if err := s.signIn(r, t.ID, u.ID); err != nil {
		return err
	}
	flash(r, "ok", "Welcome to "+t.DisplayName+"!")
	s.redirect(w, r, "/")
	return nil
}
