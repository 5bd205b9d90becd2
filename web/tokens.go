package web

import (
	"net/http"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

// sessNewToken is the session value that carries a new token's secret from the POST that
// created it to the one page that shows it (see handleTokenCreate).
const sessNewToken = "nt"

// tokensPage lists the signed-in user's API tokens on this workspace.
type tokensPage struct {
	page
	Tokens    []account.APIToken
	NewName   string
	NameError string
	NewSecret string // shown once, right after creation
	APIURL    string
}

func (s *Server) loadTokens(r *http.Request, p *tokensPage) error {
	ctx := r.Context()
	tokens, err := s.accounts.ListAPITokens(ctx, tenantFrom(ctx).ID, userFrom(ctx).ID)
	if err != nil {
		return err
	}
	p.Tokens = tokens
	p.APIURL = s.siteURL(r, tenancy.NormalizeHost(r.Host)) + "/api/v1/todos"
	return nil
}

// handleTokenIndex lists the user's tokens and the form that creates one. Right after a token
// was created it shows its secret, once: the secret leaves the session as it is shown.
func (s *Server) handleTokenIndex(w http.ResponseWriter, r *http.Request) error {
	p := &tokensPage{page: page{Title: "API tokens"}}
	if st := info(r.Context()).Session; st != nil {
		if secret, ok := st.sess.Values[sessNewToken].(string); ok {
			delete(st.sess.Values, sessNewToken)
			st.dirty = true
			p.NewSecret = secret
		}
	}
	if err := s.loadTokens(r, p); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "tokens.html", p)
}

// handleTokenCreate creates a token and redirects to /tokens, which shows its secret once (it is
// stored only hashed): the secret goes there in the session, encrypted like the rest of it, so
// no page rendered by a POST holds it and reloading the list creates nothing.
func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PostFormValue("name")
	tok, secret, err := s.accounts.CreateAPIToken(ctx, tenantFrom(ctx).ID, userFrom(ctx).ID, name)
	switch {
	case toodoo.ErrorCode(err) == toodoo.EINVALID:
		p := &tokensPage{page: page{Title: "API tokens"}, NewName: name, NameError: toodoo.ErrorMessage(err)}
		if err := s.loadTokens(r, p); err != nil {
			return err
		}
		return s.render(w, r, http.StatusBadRequest, "tokens.html", p)
	case err != nil:
		return err
	}
	st := info(ctx).Session
	st.sess.Values[sessNewToken] = secret
	st.dirty = true
	flash(r, "ok", "Token "+quoted(tok.Name)+" created.")
	s.redirect(w, r, "/tokens")
	return nil
}

// handleTokenRevoke revokes one of the user's tokens, once confirmed: the list's two-step form
// sends confirm=yes; anything else gets a page that asks first.
func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := routeID(r, "id")
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		tokens, err := s.accounts.ListAPITokens(ctx, tenantFrom(ctx).ID, userFrom(ctx).ID)
		if err != nil {
			return err
		}
		for _, t := range tokens {
			if t.ID == id && t.RevokedAt == nil {
				return s.render(w, r, http.StatusOK, "confirm.html", &confirmPage{
					page:    page{Title: "Revoke token"},
					Heading: "Revoke the token " + quoted(t.Name) + "?",
					Message: "Scripts that use it stop working at once. This cannot be undone: a new token has a new secret.",
					Action:  r.URL.Path, Button: "Revoke token", Back: "/tokens",
				})
			}
		}
		return toodoo.ErrNotFound
	}
	if err := s.accounts.RevokeAPIToken(ctx, tenantFrom(ctx).ID, userFrom(ctx).ID, id); err != nil {
		return err
	}
	flash(r, "ok", "Token revoked.")
	s.redirect(w, r, "/tokens")
	return nil
}

// confirmPage asks before a destructive action (the page behind the lists' two-step forms).
type confirmPage struct {
	page
	Heading string
	Message string
	Action  string // where the confirming form posts, with confirm=yes
	Button  string
	Back    string
}
