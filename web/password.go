package web

import (
	"net/http"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
)

// passwordPage is the signed-in user's account page: the form that changes the password, their
// sessions on every host, and "Sign out everywhere".
type passwordPage struct {
	page
	Errors   map[string]string
	Sessions []sessionRow
}

// sessionRow is a session as the list shows it.
type sessionRow struct {
	account.Session
	Where   string // the workspace, or the public site
	Current bool   // the session of this request
}

// renderPassword renders the page with the user's sessions.
func (s *Server) renderPassword(w http.ResponseWriter, r *http.Request, status int, p *passwordPage) error {
	ctx := r.Context()
	u := userFrom(ctx)
	sessions, err := s.accounts.ListSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	p.Title = "Password and sessions"
	for _, sess := range sessions {
		where := sess.Workspace
		if sess.TenantID == 0 {
			where = "Toodoo (public site)"
		}
		p.Sessions = append(p.Sessions, sessionRow{Session: sess, Where: where, Current: sess.ID == u.SessionID})
	}
	return s.render(w, r, status, "password.html", p)
}

// requireUser lets through anyone signed in on this host; require sends the anonymous to sign
// in. Everybody signed in is allowed, so no refusal error is needed.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return s.require(func(*user) bool { return true }, nil)(next)
}

// handlePasswordShow shows the form.
func (s *Server) handlePasswordShow(w http.ResponseWriter, r *http.Request) error {
	return s.renderPassword(w, r, http.StatusOK, &passwordPage{})
}

// handlePasswordChange changes the password after checking the current one. SetPassword ends
// every session of the user on every host and revokes their API tokens; this browser then gets
// a new session (a new id), so the person who changed it stays signed in here.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if err := s.reserveLogin(ctx, u.Email); err != nil {
		return err
	}
	p := &passwordPage{Errors: map[string]string{}}
	current, next := r.PostFormValue("current_password"), r.PostFormValue("new_password")
	if _, err := s.accounts.Authenticate(ctx, u.Email, current); err != nil {
		if toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
			return err
		}
		p.Errors["current_password"] = "That is not your current password."
		return s.renderPassword(w, r, http.StatusBadRequest, p)
	}
	if err := s.loginSucceeded(ctx, u.Email); err != nil {
		return err
	}
	if next != r.PostFormValue("confirm_password") {
		p.Errors["new_password"] = "The two new passwords differ."
		return s.renderPassword(w, r, http.StatusBadRequest, p)
	}
	changed, err := s.accounts.SetPassword(ctx, u.ID, next)
	if err != nil {
		if toodoo.ErrorCode(err) == toodoo.EINVALID {
			p.Errors["new_password"] = toodoo.ErrorMessage(err)
			return s.renderPassword(w, r, http.StatusBadRequest, p)
		}
		return err
	}
	if err := s.signIn(r, siteFrom(ctx).Tenant.ID, changed.ID); err != nil {
		return err
	}
	flash(r, "ok", "Password changed. Your other sessions have ended and your API tokens are revoked.")
	s.redirect(w, r, "/")
	return nil
}
