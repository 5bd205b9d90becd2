package web

import (
	"net/http"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

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

// handleTokenIndex lists the user's tokens and the form that creates one.
func (s *Server) handleTokenIndex(w http.ResponseWriter, r *http.Request) error {
	p := &tokensPage{page: page{Title: "API tokens"}}
	if err := s.loadTokens(r, p); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "tokens.html", p)
}

// handleTokenCreate creates a token and shows its secret once (it is stored only hashed).
func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PostFormValue("name")
	p := &tokensPage{page: page{Title: "API tokens"}}
	_, secret, err := s.accounts.CreateAPIToken(ctx, tenantFrom(ctx).ID, userFrom(ctx).ID, name)
	status := http.StatusOK
	switch {
	case toodoo.ErrorCode(err) == toodoo.EINVALID:
		p.NewName, p.NameError, status = name, toodoo.ErrorMessage(err), http.StatusBadRequest
	case err != nil:
		return err
	default:
		p.NewSecret = secret
	}
	if err := s.loadTokens(r, p); err != nil {
		return err
	}
	return s.render(w, r, status, "tokens.html", p)
}

// handleTokenRevoke revokes one of the user's tokens.
func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := routeID(r, "id")
	if err != nil {
		return err
	}
	if err := s.accounts.RevokeAPIToken(ctx, tenantFrom(ctx).ID, userFrom(ctx).ID, id); err != nil {
		return err
	}
	flash(r, "ok", "Token revoked.")
	s.redirect(w, r, "/tokens")
	return nil
}
