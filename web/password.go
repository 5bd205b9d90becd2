package web

import (
	"net/http"

	"github.com/toodoo/toodoo"
)

// passwordPage is the form that changes the signed-in user's password.
type passwordPage struct {
	page
	Errors map[string]string
}

// requireUser lets through anyone signed in on this host; require sends the anonymous to sign
// in. Everybody signed in is allowed, so no refusal error is needed.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return s.require(func(*user) bool { return true }, nil)(next)
}

// handlePasswordShow shows the form.
func (s *Server) handlePasswordShow(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "password.html", &passwordPage{page: page{Title: "Change password"}})
}

// handlePasswordChange changes the password after checking the current one. The user's session
// epoch moves on, which ends every other session of theirs on every host; this one is re-issued
// under the new epoch, so the person who changed it stays signed in here.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if err := s.reserveLogin(ctx, u.Email); err != nil {
		return err
	}
	p := &passwordPage{page: page{Title: "Change password"}, Errors: map[string]string{}}
	current, next := r.PostFormValue("current_password"), r.PostFormValue("new_password")
	if _, err := s.accounts.Authenticate(ctx, u.Email, current); err != nil {
		if toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
			return err
		}
		p.Errors["current_password"] = "That is not your current password."
		return s.render(w, r, http.StatusBadRequest, "password.html", p)
	}
	if err := s.loginSucceeded(ctx, u.Email); err != nil {
		return err
	}
	if next != r.PostFormValue("confirm_password") {
		p.Errors["new_password"] = "The two new passwords differ."
		return s.render(w, r, http.StatusBadRequest, "password.html", p)
	}
	changed, err := s.accounts.SetPassword(ctx, u.ID, next)
	if err != nil {
		if toodoo.ErrorCode(err) == toodoo.EINVALID {
			p.Errors["new_password"] = toodoo.ErrorMessage(err)
			return s.render(w, r, http.StatusBadRequest, "password.html", p)
		}
		return err
	}
	info(ctx).Session.start(siteFrom(ctx).Tenant.ID, changed.ID, changed.SessionEpoch)
	flash(r, "ok", "Password changed. Your other sessions have ended.")
	s.redirect(w, r, "/")
	return nil
}
