package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
)

// user is the signed-in person as this request sees them.
type user struct {
	ID          int64
	Email       string
	IsSuperuser bool
	Role        string // in the current workspace: account.RoleOwner, account.RoleMember or ""
	ViaToken    bool   // authenticated by an API token, not a session
	SessionID   int64  // the session's row, when authenticated by the session cookie

	// menu is the workspace menu, when the session's statement brought it (see wantsMenu).
	menu *account.Menu
}

// CanEnter reports whether u may use the current workspace: members and superusers.
func (u *user) CanEnter() bool { return u != nil && (u.IsSuperuser || u.Role != "") }

// IsOwner reports whether u may manage the current workspace's members.
func (u *user) IsOwner() bool { return u != nil && (u.IsSuperuser || u.Role == account.RoleOwner) }

func userFrom(ctx context.Context) *user {
	u, _ := ctx.Value(userKey).(*user)
	return u
}

var (
	errSignInRequired = toodoo.Errorf(toodoo.EUNAUTHORIZED, "Please sign in.")
	errNotMember      = toodoo.Errorf(toodoo.EFORBIDDEN, "You are not a member of this workspace.")
	errNotOwner       = toodoo.Errorf(toodoo.EFORBIDDEN, "Only the workspace's owners can do this.")
	errNotSuperuser   = toodoo.Errorf(toodoo.EFORBIDDEN, "Only platform administrators can do this.")
	// errWrongLogin is the one answer for an unknown email, a wrong password and a user who is
	// not a member of this workspace: which of the three is nobody's business.
	errWrongLogin = toodoo.Errorf(toodoo.EUNAUTHORIZED, "Wrong email or password.")
)

// authenticate finds who is asking and puts them in the context: on the API a bearer token
// when one is sent, otherwise the session cookie, whose id must name a live row of
// public.sessions issued on this host (tenant); the same query brings the user and their role.
// A cookie whose session has ended (logout, sign out everywhere, a new password, expiry) is
// dropped. Nobody is refused here; the subrouters' require* middlewares do that.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ri := info(ctx)
		ri.Session = s.loadSession(r)
		st := siteFrom(ctx)
		tenantID := st.Tenant.ID // 0 on the public site

		var u *user
		if secret, ok := bearerToken(r); ok && isAPI(r) {
			if st.Public {
				s.writeError(w, r, errPageNotFound)
				return
			}
			au, err := s.accounts.AuthenticateAPIToken(ctx, tenantID, secret)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			u = &user{ID: au.ID, Email: au.Email, IsSuperuser: au.IsSuperuser, Role: account.RoleMember, ViaToken: true}
		} else if secret := ri.Session.secret(); secret != "" {
			var (
				su   account.SessionUser
				menu *account.Menu
				err  error
			)
			if wantsMenu(r) {
				var m account.Menu
				su, m, err = s.accounts.AuthenticateSessionMenu(ctx, tenantID, secret, menuMax)
				menu = &m
			} else {
				su, err = s.accounts.AuthenticateSession(ctx, tenantID, secret)
			}
			switch {
			case toodoo.ErrorCode(err) == toodoo.EUNAUTHORIZED:
				ri.Session.end() // ended, expired, or issued on another host
			case err != nil:
				s.writeError(w, r, err)
				return
			default:
				u = &user{ID: su.ID, Email: su.Email, IsSuperuser: su.IsSuperuser, Role: su.Role, SessionID: su.SessionID, menu: menu}
			}
		}
		if u != nil {
			ri.UserID = u.ID
			ctx = context.WithValue(ctx, userKey, u)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// wantsMenu reports whether a signed-in request will most likely show a page with the workspace
// menu, so that authentication brings the menu in the session's statement (one round trip for
// both, see account.AuthenticateSessionMenu): GET and HEAD outside the API, except the public
// site's home page, which lists all the person's workspaces and fills the menu from that list.
// Other requests (the API, the forms' POSTs, which answer with a redirect) do not pay for it;
// the few that render a page after all (a form sent back with an error, an error page) read
// the menu then, with one more round trip (userWorkspaces).
func wantsMenu(r *http.Request) bool {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || isAPI(r) {
		return false
	}
	return !(siteFrom(r.Context()).Public && r.URL.Path == "/")
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// require returns middleware that lets through the signed-in users for whom allowed is true;
// anonymous visitors are sent to /login (401 on the API), others get refused. It is the one
// shape of every authorization boundary in routes.go.
func (s *Server) require(allowed func(*user) bool, refused error) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch u := userFrom(r.Context()); {
			case u == nil:
				s.writeError(w, r, errSignInRequired)
			case !allowed(u):
				s.writeError(w, r, refused)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// requireMember lets through members of the current workspace and superusers.
func (s *Server) requireMember(next http.Handler) http.Handler {
	return s.require((*user).CanEnter, errNotMember)(next)
}

// requireOwner lets through the workspace's owners and superusers.
func (s *Server) requireOwner(next http.Handler) http.Handler {
	return s.require((*user).IsOwner, errNotOwner)(next)
}

// requireSuperuser guards the platform admin.
func (s *Server) requireSuperuser(next http.Handler) http.Handler {
	return s.require(func(u *user) bool { return u.IsSuperuser }, errNotSuperuser)(next)
}

// loginPage is the sign-in form.
type loginPage struct {
	page
	Email string
	Next  string
	Error string
}

// handleLoginShow shows the sign-in form (or goes on if the visitor is signed in already).
func (s *Server) handleLoginShow(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if u := userFrom(r.Context()); u != nil && (siteFrom(r.Context()).Public || u.CanEnter()) {
		s.redirect(w, r, next)
		return nil
	}
	return s.render(w, r, http.StatusOK, "login.html", &loginPage{page: page{Title: "Sign in"}, Next: next})
}

// handleLoginSubmit signs a user in. Each password check is first reserved against the
// budgets of the client address, the account from that address and the account (see
// reserveLogin): refused, it answers 429 with Retry-After and the password is not looked at. On
// a workspace's host only its members and superusers get in; anyone else gets the same answer
// as for a wrong password.
func (s *Server) handleLoginSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	if err := s.reserveLogin(ctx, email); err != nil {
		return err
	}
	fail := func(err error) error {
		return s.render(w, r, http.StatusUnauthorized, "login.html", &loginPage{
			page: page{Title: "Sign in"}, Email: email, Next: next, Error: toodoo.ErrorMessage(err),
		})
	}
	u, err := s.accounts.Authenticate(ctx, email, password)
	if err != nil {
		if toodoo.ErrorCode(err) == toodoo.EUNAUTHORIZED {
			return fail(errWrongLogin)
		}
		return err
	}
	if err := s.loginSucceeded(ctx, email); err != nil {
		return err
	}
	st := siteFrom(ctx)
	if !st.Public && !u.IsSuperuser {
		if _, err := s.accounts.Membership(ctx, u.ID, st.Tenant.ID); err != nil {
			if toodoo.ErrorCode(err) == toodoo.ENOTFOUND {
				return fail(errWrongLogin)
			}
			return err
		}
	}
	if err := s.signIn(r, st.Tenant.ID, u.ID); err != nil {
		return err
	}
	s.redirect(w, r, next)
	return nil
}

// handleLogout ends the session: its row goes, so a copy of the cookie is worthless too.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.signOut(r); err != nil {
		return err
	}
	flash(r, "ok", "You are signed out.")
	s.redirect(w, r, "/login")
	return nil
}

// handleLogoutEverywhere ends every session of the user on every host, this one too.
func (s *Server) handleLogoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := s.accounts.EndAllSessions(ctx, userFrom(ctx).ID); err != nil {
		return err
	}
	info(ctx).Session.end()
	flash(r, "ok", "You are signed out everywhere.")
	s.redirect(w, r, "/login")
	return nil
}

// handleSessionEnd ends one of the user's sessions from the list on the password page; ending
// this one signs out here.
func (s *Server) handleSessionEnd(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := routeID(r, "id")
	if err != nil {
		return err
	}
	u := userFrom(ctx)
	if err := s.accounts.EndSessionByID(ctx, u.ID, id); err != nil {
		return err
	}
	if id == u.SessionID {
		info(ctx).Session.end()
		flash(r, "ok", "You are signed out.")
		s.redirect(w, r, "/login")
		return nil
	}
	flash(r, "ok", "That session has ended.")
	s.redirect(w, r, "/password")
	return nil
}

// loginTokenPage is the page behind a one-time sign-in link: one button that spends it.
type loginTokenPage struct {
	page
	Token string
	Next  string
	Email string // whom the link signs in
}

// errBadLoginLink is the answer for a one-time link that cannot be used (any more).
const errBadLoginLink = "This sign-in link is invalid, used or expired. Please sign in."

// handleLoginTokenShow is the page behind the one-time links that sign-up and the workspace
// menu redirect to (on a workspace's host or the public site): a button that signs in, saying
// as whom. Looking at the link (GET or HEAD, as link scanners and prefetchers do) spends
// nothing; only the button's POST does. One exception: a visitor signed in here already as the
// link's user (who went back and forth between workspaces) is sent on, and the link spent, since
// it changes nothing.
func (s *Server) handleLoginTokenShow(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tenantID := tenantFrom(ctx).ID
	token := r.URL.Query().Get("t")
	next := safeNext(r.URL.Query().Get("next"))
	uid, err := s.accounts.CheckLoginToken(ctx, tenantID, token)
	if err != nil {
		return s.loginTokenRefused(w, r, err)
	}
	if u := userFrom(ctx); u != nil && u.ID == uid && !u.ViaToken && r.Method == http.MethodGet {
		if _, err := s.accounts.ConsumeLoginToken(ctx, tenantID, token); err != nil {
			return s.loginTokenRefused(w, r, err)
		}
		s.redirect(w, r, next)
		return nil
	}
	tu, err := s.accounts.GetUser(ctx, uid)
	if err != nil {
		return s.loginTokenRefused(w, r, err)
	}
	p := &loginTokenPage{Token: token, Next: next, Email: tu.Email}
	p.Title = "Continue"
	return s.render(w, r, http.StatusOK, "login_token.html", p)
}

// handleLoginToken signs in with a one-time token, posted by the page behind the link. The
// token is bound to its user and to this host (a workspace, or the public site), expires within
// minutes and works once; on a workspace the user must still be a member (or a superuser).
func (s *Server) handleLoginToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	st := siteFrom(ctx)
	t := st.Tenant
	if err := s.limitClient(ctx, account.LoginClientScope); err != nil {
		return err
	}
	next := safeNext(r.PostFormValue("next"))
	uid, err := s.accounts.ConsumeLoginToken(ctx, t.ID, r.PostFormValue("t"))
	if err != nil {
		return s.loginTokenRefused(w, r, err)
	}
	u, err := s.accounts.GetUser(ctx, uid)
	if err != nil {
		return s.loginTokenRefused(w, r, err)
	}
	if !st.Public && !u.IsSuperuser {
		if _, err := s.accounts.Membership(ctx, uid, t.ID); err != nil {
			return s.loginTokenRefused(w, r, err)
		}
	}
	if err := s.signIn(r, t.ID, u.ID); err != nil {
		return err
	}
	if !st.Public {
		flash(r, "ok", "Welcome to "+t.DisplayName+"!")
	}
	s.redirect(w, r, next)
	return nil
}

// loginTokenRefused shows the sign-in form with errBadLoginLink for a token that is unknown,
// used, expired or for another workspace (or whose user is no longer a member); other errors
// go on.
func (s *Server) loginTokenRefused(w http.ResponseWriter, r *http.Request, err error) error {
	switch toodoo.ErrorCode(err) {
	case toodoo.EUNAUTHORIZED, toodoo.ENOTFOUND:
		return s.render(w, r, http.StatusUnauthorized, "login.html", &loginPage{
			page: page{Title: "Sign in"}, Next: "/", Error: errBadLoginLink,
		})
	}
	return err
}

// safeNext returns a local path to go to after signing in; anything else becomes "/", so the
// login form cannot be used to send people to another site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return u.RequestURI()
}
