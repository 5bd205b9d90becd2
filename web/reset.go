package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/tenancy"
)

// Password reset, on every host: "Forgot your password?" asks for an address and always gives
// the same answer; if an account has the address, a one-time link (account.ResetTokenTTL,
// stored hashed, bound to this host) goes to it by mail, queued in the transaction that stores
// the link. The link opens a form (GET spends nothing, so mail scanners and prefetchers cannot
// burn it); posting the new password spends it, ends every session of the account and signs
// the person in here.

// forgotPage asks for the address.
type forgotPage struct {
	page
	Email      string
	EmailError string
	Error      string
}

// checkEmailPage is the one answer of sign-up and "Forgot your password?", whoever the address
// belongs to.
type checkEmailPage struct {
	page
	Message string
}

// resetPage is the form behind a reset link.
type resetPage struct {
	page
	Token  string
	Email  string
	Errors map[string]string
}

// resetSent is the answer to every well-formed request, known address or not.
const resetSent = "If an account uses this address, we have sent it a link to choose a new password. The link works once, within 30 minutes."

// handleForgotShow shows the form.
func (s *Server) handleForgotShow(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "forgot.html", &forgotPage{page: page{Title: "Forgot your password?"}, Email: r.URL.Query().Get("email")})
}

// handleForgotSubmit queues the reset mail if the address has an account, and answers the
// same either way.
func (s *Server) handleForgotSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limitClient(ctx, "reset"); err != nil {
		return err
	}
	email, err := account.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		return s.render(w, r, http.StatusBadRequest, "forgot.html", &forgotPage{page: page{Title: "Forgot your password?"},
			Email: strings.TrimSpace(r.PostFormValue("email")), EmailError: toodoo.ErrorMessage(err)})
	}
	site := siteFrom(ctx).Tenant.ID
	base := s.siteURL(r, tenancy.NormalizeHost(r.Host))
	err = s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		u, token, err := account.IssueResetTokenTx(ctx, tx, email, site)
		if toodoo.ErrorCode(err) == toodoo.ENOTFOUND {
			return nil // nobody to tell; the answer is the same
		}
		if err != nil {
			return err
		}
		return tx.Enqueue(ctx, mail.PasswordReset(u.Email, base+"/password/reset?t="+url.QueryEscape(token), account.ResetTokenTTL))
	})
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "check_email.html", &checkEmailPage{page: page{Title: "Check your e-mail"}, Message: resetSent})
}

// badLink answers a reset or verification link that is unknown, used, expired or for another
// host.
func (s *Server) badLink(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusBadRequest, "forgot.html", &forgotPage{page: page{Title: "Forgot your password?"},
		Error: "This link is invalid, used or expired. Ask for a new one below."})
}

// handleResetShow shows the new-password form behind a live link, without spending it.
func (s *Server) handleResetShow(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.URL.Query().Get("t")
	email, err := s.accounts.ResetAddress(ctx, siteFrom(ctx).Tenant.ID, token)
	if toodoo.ErrorCode(err) == toodoo.EUNAUTHORIZED {
		return s.badLink(w, r)
	}
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "reset.html", &resetPage{page: page{Title: "Choose a new password"}, Token: token, Email: email})
}

// handleResetSubmit spends the link, sets the password (which ends every session of the
// account) and signs the person in on this host if they may enter it.
func (s *Server) handleResetSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limitClient(ctx, "reset"); err != nil {
		return err
	}
	st := siteFrom(ctx)
	token, next := r.PostFormValue("t"), r.PostFormValue("new_password")
	rerender := func(msg string) error {
		email, err := s.accounts.ResetAddress(ctx, st.Tenant.ID, token)
		if toodoo.ErrorCode(err) == toodoo.EUNAUTHORIZED {
			return s.badLink(w, r)
		}
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusBadRequest, "reset.html", &resetPage{page: page{Title: "Choose a new password"},
			Token: token, Email: email, Errors: map[string]string{"new_password": msg}})
	}
	if next != r.PostFormValue("confirm_password") {
		return rerender("The two new passwords differ.")
	}
	u, err := s.accounts.ResetPassword(ctx, st.Tenant.ID, token, next)
	switch toodoo.ErrorCode(err) {
	case "":
	case toodoo.EINVALID:
		return rerender(toodoo.ErrorMessage(err))
	case toodoo.EUNAUTHORIZED:
		return s.badLink(w, r)
	default:
		return err
	}
	s.logger.InfoContext(ctx, "password reset by mail link", "user", u.ID, "request_id", info(ctx).ID)
	if !st.Public && !u.IsSuperuser {
		if _, err := s.accounts.Membership(ctx, u.ID, st.Tenant.ID); err != nil {
			if toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
				return err
			}
			// Not a member here (any more): the password is set, but this host is not theirs.
			info(ctx).Session.end()
			info(ctx).Session.setFlash("ok", "Password changed. Sign in where you are a member.")
			s.redirect(w, r, "/login")
			return nil
		}
	}
	if err := s.signIn(r, st.Tenant.ID, u.ID); err != nil {
		return err
	}
	flash(r, "ok", "Password changed. Every other session of your account has ended.")
	s.redirect(w, r, "/")
	return nil
}
