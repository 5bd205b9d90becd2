package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/toodoo/toodoo"
)

// routes builds the whole application. Every route is here; subrouters mark who may pass.
//
// There are three routers, picked by the resolved site: the public site, a workspace's pages
// and a workspace's JSON API. (Nesting them as gorilla/mux subrouters under host matchers would
// lose 405s: a matcher that matches on a later route clears an earlier method mismatch.)
//
// The chain in front of them, outermost first: request log, panic recovery, security headers,
// trusted proxies, health checks (which answer on any host), the static files (on any host, so
// that the pages of unknown and suspended hosts are styled), host resolution, the schema gate
// (web/gate.go: a tenant whose schema the code cannot work with gets 503), cross-origin POST
// refusal, body limit, authentication.
func (s *Server) routes() http.Handler {
	// The public site on the base domain.
	pub := s.newRouter()
	s.accountRoutes(pub)
	pub.Handle("/", s.handle(s.handleHomeShow)).Methods(http.MethodGet, http.MethodHead)
	pub.Handle("/signup", s.handle(s.handleSignupShow)).Methods(http.MethodGet, http.MethodHead)
	pub.Handle("/signup", s.handle(s.handleSignupSubmit)).Methods(http.MethodPost)

	admin := s.subrouter(pub.NewRoute())
	admin.Use(s.requireSuperuser)
	admin.Handle("/admin", s.handle(s.handleAdminShow)).Methods(http.MethodGet, http.MethodHead)
	admin.Handle("/admin/tenants", s.handle(s.handleAdminTenantCreate)).Methods(http.MethodPost)
	admin.Handle("/admin/tenants/{name}/suspend", s.handle(s.handleAdminTenantSuspend)).Methods(http.MethodPost)
	admin.Handle("/admin/tenants/{name}/resume", s.handle(s.handleAdminTenantResume)).Methods(http.MethodPost)
	admin.Handle("/admin/tenants/{name}/delete", s.handle(s.handleAdminTenantDelete)).Methods(http.MethodPost)
	admin.Handle("/admin/tenants/{name}/export", s.handle(s.handleAdminTenantExport)).Methods(http.MethodGet)

	// A workspace's pages.
	ws := s.newRouter()
	s.accountRoutes(ws)
	ws.Handle("/verify", s.handle(s.handleVerifyShow)).Methods(http.MethodGet, http.MethodHead)
	ws.Handle("/verify", s.handle(s.handleVerifySubmit)).Methods(http.MethodPost)
	ws.Handle("/invite", s.handle(s.handleInviteShow)).Methods(http.MethodGet, http.MethodHead)
	ws.Handle("/invite", s.handle(s.handleInviteAccept)).Methods(http.MethodPost)

	app := s.subrouter(ws.NewRoute())
	app.Use(s.requireMember)
	app.Handle("/", s.handle(s.handleTodoIndex)).Methods(http.MethodGet, http.MethodHead)
	app.Handle("/todos", s.handle(s.handleTodoCreate)).Methods(http.MethodPost)
	app.Handle("/todos/{id:[0-9]+}/edit", s.handle(s.handleTodoEdit)).Methods(http.MethodGet, http.MethodHead)
	app.Handle("/todos/{id:[0-9]+}", s.handle(s.handleTodoUpdate)).Methods(http.MethodPost)
	app.Handle("/todos/{id:[0-9]+}/done", s.handle(s.handleTodoDone)).Methods(http.MethodPost)
	app.Handle("/todos/{id:[0-9]+}/delete", s.handle(s.handleTodoDelete)).Methods(http.MethodPost)
	app.Handle("/todos/undo", s.handle(s.handleTodoRestore)).Methods(http.MethodPost)
	app.Handle("/tokens", s.handle(s.handleTokenIndex)).Methods(http.MethodGet, http.MethodHead)
	app.Handle("/tokens", s.handle(s.handleTokenCreate)).Methods(http.MethodPost)
	app.Handle("/tokens/{id:[0-9]+}/revoke", s.handle(s.handleTokenRevoke)).Methods(http.MethodPost)

	members := s.subrouter(app.NewRoute())
	members.Use(s.requireOwner)
	members.Handle("/members", s.handle(s.handleMemberIndex)).Methods(http.MethodGet, http.MethodHead)
	members.Handle("/members", s.handle(s.handleMemberAdd)).Methods(http.MethodPost)
	members.Handle("/members/{uid:[0-9]+}/role", s.handle(s.handleMemberRole)).Methods(http.MethodPost)
	members.Handle("/members/{uid:[0-9]+}/remove", s.handle(s.handleMemberRemove)).Methods(http.MethodPost)
	members.Handle("/members/invitations/revoke", s.handle(s.handleInvitationRevoke)).Methods(http.MethodPost)

	// A workspace's JSON API.
	api := s.newRouter()
	s.apiRoutes(api)

	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case siteFrom(r.Context()).Public:
			pub.ServeHTTP(w, r)
		case isAPI(r):
			api.ServeHTTP(w, r)
		default:
			ws.ServeHTTP(w, r)
		}
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error { return errCrossOrigin }))

	h = s.authenticate(h)
	h = s.limitBody(h)
	h = cop.Handler(h)
	h = s.gate(h)
	h = s.resolveHost(h)
	h = s.serveStatic(h)
	h = s.health(h)
	h = s.trustProxies(h)
	h = s.securityHeaders(h)
	h = s.recoverPanic(h)
	h = s.logRequest(h)
	return h
}

// apiRoutes is a workspace's JSON API: session cookie or bearer token (see authenticate).
// web/openapi.json describes every route here, and a test fails on a route it does not describe
// (TestOpenAPIDescribesEveryRoute) or on an answer that is not as described (openapi_test.go).
func (s *Server) apiRoutes(r *mux.Router) {
	r.Handle("/api/v1/openapi.json", s.handle(s.handleOpenAPIShow)).Methods(http.MethodGet, http.MethodHead)

	api := s.subrouter(r.NewRoute())
	api.Use(s.requireMember)
	api.Handle("/api/v1/todos", s.handle(s.handleAPITodoList)).Methods(http.MethodGet, http.MethodHead)
	api.Handle("/api/v1/todos", s.handle(s.handleAPITodoCreate)).Methods(http.MethodPost)
	api.Handle("/api/v1/todos/{id:[0-9]+}", s.handle(s.handleAPITodoGet)).Methods(http.MethodGet, http.MethodHead)
	api.Handle("/api/v1/todos/{id:[0-9]+}", s.handle(s.handleAPITodoUpdate)).Methods(http.MethodPatch)
	api.Handle("/api/v1/todos/{id:[0-9]+}", s.handle(s.handleAPITodoDelete)).Methods(http.MethodDelete)
}

// routeID reads the route variable name ({id}, {uid}) as a row id. The routes let only digits
// through; an id that is zero or too large for an int64 names no row, so it is simply not found.
func routeID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	if err != nil || id <= 0 {
		return 0, toodoo.ErrNotFound
	}
	return id, nil
}

// newRouter returns a router whose 404 and 405 go through writeError.
func (s *Server) newRouter() *mux.Router {
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error { return errPageNotFound })
	r.MethodNotAllowedHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error { return errMethodNotAllowed })
	return r
}

// subrouter returns route's subrouter, which answers 405 itself (gorilla/mux otherwise turns a
// method mismatch inside a subrouter into a 404). Subrouters here hang off matcher-less routes
// and their routes use full paths: a matcher copied from the parent route into every subroute
// would clear an earlier route's method mismatch, and a 405 would become a 404.
func (s *Server) subrouter(route *mux.Route) *mux.Router {
	r := route.Subrouter()
	r.MethodNotAllowedHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error { return errMethodNotAllowed })
	return r
}

// accountRoutes are on every host: signing in and out (with a one-time link too), moving to
// another workspace, the password and the sessions. (The stylesheet is served before the host
// is resolved: see serveStatic.)
func (s *Server) accountRoutes(r *mux.Router) {
	r.Handle("/login", s.handle(s.handleLoginShow)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/login", s.handle(s.handleLoginSubmit)).Methods(http.MethodPost)
	r.Handle("/login/token", s.handle(s.handleLoginTokenShow)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/login/token", s.handle(s.handleLoginToken)).Methods(http.MethodPost)
	r.Handle("/logout", s.handle(s.handleLogout)).Methods(http.MethodPost)
	r.Handle("/password/forgot", s.handle(s.handleForgotShow)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/password/forgot", s.handle(s.handleForgotSubmit)).Methods(http.MethodPost)
	r.Handle("/password/reset", s.handle(s.handleResetShow)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/password/reset", s.handle(s.handleResetSubmit)).Methods(http.MethodPost)

	signedIn := s.subrouter(r.NewRoute())
	signedIn.Use(s.requireUser)
	signedIn.Handle("/password", s.handle(s.handlePasswordShow)).Methods(http.MethodGet, http.MethodHead)
	signedIn.Handle("/password", s.handle(s.handlePasswordChange)).Methods(http.MethodPost)
	signedIn.Handle("/logout/everywhere", s.handle(s.handleLogoutEverywhere)).Methods(http.MethodPost)
	signedIn.Handle("/sessions/{id:[0-9]+}/end", s.handle(s.handleSessionEnd)).Methods(http.MethodPost)
	signedIn.Handle("/switch", s.handle(s.handleSwitch)).Methods(http.MethodPost)
}

// serveStatic serves the embedded stylesheet (and any other static file) under /static/ on every
// host, before host resolution: the 404 page of an unknown host and the 403 page of a suspended
// workspace link to it like every page. The files are the same for every host and say nothing
// about any tenant; other methods get 405.
func (s *Server) serveStatic(next http.Handler) http.Handler {
	static := staticHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !strings.HasPrefix(r.URL.Path, "/static/"):
			next.ServeHTTP(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			static.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD")
			s.writeError(w, r, errMethodNotAllowed)
		}
	})
}

// health answers /healthz (the process is up) and /readyz (it can serve now) on any host,
// before host resolution: load balancers probe by address.
//
// /readyz takes a database connection the way requests do, waiting no longer than the pool's
// acquire timeout (see tenancy.DB.Ping), and pings on it. So it answers 503 exactly when a
// request arriving now would: "busy" when every connection has stayed taken for longer than the
// bound (requests are queueing for connections, and would get 503 themselves), "unreachable"
// when the database does not answer. A balancer then sends traffic to other processes until
// connections come free again. From the moment Serve is told to stop, /readyz answers 503
// ("draining") without asking the database, and /healthz stays 200 (see Serve).
func (s *Server) health(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			info(r.Context()).Route = r.URL.Path
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			info(r.Context()).Route = r.URL.Path
			if s.draining.Load() {
				// Serve was told to stop: out of rotation, while the requests that still
				// come are served (see Serve).
				s.metrics.readiness.WithLabelValues(notReadyDraining).Inc()
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("draining\n"))
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if err := s.db.Ping(ctx); err != nil {
				s.logger.Warn("readiness check failed", "error", err)
				msg, reason := "database unreachable\n", notReadyUnreachable
				if toodoo.ErrorCode(err) == toodoo.EUNAVAILABLE {
					msg, reason = "database connections busy\n", notReadyBusy
					w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter/time.Second)))
				}
				s.metrics.readiness.WithLabelValues(reason).Inc()
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(msg))
				return
			}
			_, _ = w.Write([]byte("ok\n"))
		default:
			next.ServeHTTP(w, r)
		}
	})
}
