package web

import (
	"net/http"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
)

// verifyPage is the page a verification link opens: a button, so that mail scanners and
// prefetchers, which follow links but do not submit forms, cannot spend the link.
type verifyPage struct {
	page
	Token string
	Email string
}

// handleVerifyShow shows the button behind a live verification link, without spending it.
func (s *Server) handleVerifyShow(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.URL.Query().Get("t")
	email, err := s.accounts.VerifyAddress(ctx, siteFrom(ctx).Tenant.ID, token)
	if toodoo.ErrorCode(err) == toodoo.EUNAUTHORIZED {
		return s.badLink(w, r)
	}
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "verify.html", &verifyPage{page: page{Title: "Confirm your e-mail address"}, Token: token, Email: email})
}

// handleVerifySubmit spends the link: the address is proven, and its owner is signed in on the
// workspace they created.
func (s *Server) handleVerifySubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limitClient(ctx, account.LoginClientScope); err != nil {
		return err
	}
	t := siteFrom(ctx).Tenant
	u, err := s.accounts.VerifyEmail(ctx, t.ID, r.PostFormValue("t"))
	switch toodoo.ErrorCode(err) {
	case "":
	case toodoo.EUNAUTHORIZED:
		return s.badLink(w, r)
	default:
		return err
	}
	if _, err := s.accounts.Membership(ctx, u.ID, t.ID); err != nil && !u.IsSuperuser {
		if toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
			return err
		}
		flash(r, "ok", "Your e-mail address is confirmed. Sign in where you are a member.")
		s.redirect(w, r, "/login")
		return nil
	}
	if err := s.signIn(r, t.ID, u.ID); err != nil {
		return err
	}
	flash(r, "ok", "Your e-mail address is confirmed. Welcome to "+t.DisplayName+"!")
	s.redirect(w, r, "/")
	return nil
}
