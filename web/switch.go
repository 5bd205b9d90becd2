package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

// Session cookies are host-only (see newSessionStore): a person signed in on one workspace is a
// stranger on the next. The workspace menu carries them across without a password, with the
// mechanism sign-up uses: a one-time login token bound to the user and the target host, issued
// here on the host they are signed in on, spent there by the page behind /login/token.

// switchPublic is the value of the switch form's "to" that means the public site.
const switchPublic = "public"

// switchClientScope is the client budget that issuing one-time links with the menu spends (the
// login budget's size: a person switches a few times a minute at most; a script minting tokens
// in a loop is slowed down).
const switchClientScope = "switch"

// errNoSuchWorkspace is the answer for a workspace the user may not switch to, whether or not
// it exists: the menu lists only the user's own.
var errNoSuchWorkspace = toodoo.Errorf(toodoo.ENOTFOUND, "You are not a member of this workspace.")

// menuWorkspace is a workspace as the workspace menu and the public home page list it.
type menuWorkspace struct {
	ID      int64
	Name    string
	Role    string
	Current bool // the workspace of this page
}

// menuMax is how many workspaces the menu lists besides the current one; the rest are counted
// and found under "All workspaces" (the public site's home page lists them all).
const menuMax = 10

// userWorkspaces lists the workspaces of u's menu: active ones with a domain, by name, at most
// menuMax plus the current one, and how many u may enter in all. Authentication brought them
// with the session on most pages (wantsMenu); otherwise they are read now with the same
// statement, which checks the cookie's session again: the menu's rules have one home.
func (s *Server) userWorkspaces(ctx context.Context, u *user) ([]menuWorkspace, int, error) {
	current := tenantFrom(ctx).ID
	menu := u.menu
	if menu == nil {
		_, m, err := s.accounts.AuthenticateSessionMenu(ctx, current, info(ctx).Session.secret(), menuMax)
		if err != nil {
			return nil, 0, err
		}
		menu = &m
	}
	out := make([]menuWorkspace, len(menu.Workspaces))
	for i, ws := range menu.Workspaces {
		out[i] = menuWorkspace{ID: ws.TenantID, Name: ws.DisplayName, Role: ws.Role, Current: current != 0 && ws.TenantID == current}
	}
	return out, menu.Total, nil
}

// handleSwitch sends the signed-in user to another of their workspaces ("to" is its id) or to
// the public site ("to" is "public"), signed in there: it issues a one-time login token for the
// user on the target's host, valid account.SwitchTokenTTL, and redirects to the target's
// /login/token page, which spends it (see handleLoginTokenShow). The target must be an active
// workspace the user is a member of; anything else is not found, and no token is issued. Each
// switch spends the client address's switchClientScope budget (429 when it is spent).
func (s *Server) handleSwitch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u := userFrom(ctx)
	if err := s.limitClient(ctx, switchClientScope); err != nil {
		return err
	}
	next := safeNext(r.PostFormValue("next"))
	var tenantID int64
	host := s.cfg.BaseDomain
	if to := r.PostFormValue("to"); to != switchPublic {
		id, err := strconv.ParseInt(to, 10, 64)
		if err != nil || id <= 0 {
			return errNoSuchWorkspace
		}
		list, err := s.accounts.ListWorkspaces(ctx, u.ID)
		if err != nil {
			return err
		}
		host = ""
		for _, ws := range list {
			if ws.TenantID != id {
				continue
			}
			if ws.Status != tenancy.StatusActive {
				return toodoo.Errorf(toodoo.ESUSPENDED, "The workspace %q is suspended.", ws.DisplayName)
			}
			tenantID, host = ws.TenantID, ws.PrimaryDomain
		}
		if host == "" {
			return errNoSuchWorkspace
		}
	}
	if tenantID == tenantFrom(ctx).ID && siteFrom(ctx).Public == (tenantID == 0) {
		s.redirect(w, r, next) // already here
		return nil
	}
	token, err := s.accounts.IssueLoginToken(ctx, u.ID, tenantID, account.SwitchTokenTTL)
	if err != nil {
		return err
	}
	q := url.Values{"t": {token}}
	if next != "/" {
		q.Set("next", next)
	}
	s.logger.InfoContext(ctx, "switch workspace", "user_id", u.ID, "to_tenant", tenantID)
	s.redirect(w, r, s.siteURL(r, host)+"/login/token?"+q.Encode())
	return nil
}
