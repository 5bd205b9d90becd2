// Package web is Toodoo's HTTP adapter: the server, its routes, the pages and the JSON API.
//
// A request's path through the package, one file per step:
//
//	server.go     Server, Config, http.Server with timeouts, graceful shutdown, background work
//	middleware.go request log, panic recovery, trusted proxies, security headers, body limit
//	host.go       Host -> public site or tenant (in-memory map kept fresh by LISTEN/NOTIFY)
//	session.go    cookie sessions: a secret id in the cookie, a row in public.sessions
//	auth.go       who is asking: session or bearer token; login, logout
//	limit.go      attempt budgets, kept in the database for every process (account), and their purge
//	routes.go     every route, with gorilla/mux subrouters as the authorization boundaries
//	todo.go api.go signup.go members.go tokens.go admin.go   the handlers
//	errors.go     the one place that turns errors into HTTP statuses and error pages
//	metrics.go    the Prometheus instruments (no tenant label) and the noisiest tenants' top-N
//	render.go     html/template, parsed at start-up, rendered into a buffer
//
// Handlers return an error and never see the pool: tenant data is reached only through
// tenancy.DB.InTx/InReadTx, shared data through account and tenancy.
package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/toodoo/toodoo/account"

	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// Config is the server's configuration. cmd/toodoo builds it, with its defaults, from flags
// and the environment; New only checks it, and the package keeps no globals.
type Config struct {
	// BaseDomain is the public site's host (required); "www."+BaseDomain is the public site
	// too, and sign-up gives tenants <subdomain>.<BaseDomain>.
	BaseDomain string
	// DirectDatabaseURL is the database URL used to LISTEN for host changes. It must not lead
	// through a transaction-mode pooler, which cannot hold a LISTEN. Empty: no listener, every
	// host is resolved through the database.
	DirectDatabaseURL string
	// SessionKeys sign and encrypt session cookies: the first signs, all verify, so keys can
	// rotate. Each at least MinSessionKeyLen bytes. Required unless Dev.
	SessionKeys [][]byte
	// SecureCookies marks cookies Secure, for HTTPS deployments, and names the session cookie
	// with the __Host- prefix.
	SecureCookies bool
	// TrustedProxies are the networks whose X-Forwarded-For/-Host/-Proto headers are believed.
	// Everybody else's are ignored.
	TrustedProxies []netip.Prefix
	// Dev is development mode: a random session key when none is given.
	Dev bool
	// SpareSchemas is how many spare tenant schemas Serve keeps ready for sign-ups (zero: none,
	// every creation runs the template DDL).
	SpareSchemas int
	// Metrics is where the server registers its instruments (web/metrics.go), which the
	// process serves on an address of its own (package metrics). Nil: they count unseen.
	Metrics prometheus.Registerer
	// DrainDelay is how long Serve goes on serving once told to stop, with /readyz answering
	// 503, so that load balancers take the process out of rotation before it stops accepting
	// connections (zero: no drain, shut down at once). EndDrain cuts it short.
	DrainDelay time.Duration

	// The limits below are the package's own: nobody configures them but tests, so zero
	// means the default given.

	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// ShutdownTimeout bounds how long Serve waits for in-flight requests (default 10s).
	ShutdownTimeout time.Duration
	// LoginLimits are the budgets of password checks, per client address, per account and
	// address, and per account, kept in the database for every process (zero fields:
	// account.DefaultLoginLimits). Its Client budget also limits sign-ups and one-time links
	// per address.
	LoginLimits account.LoginLimits
}

// MinSessionKeyLen is the shortest session key accepted: 32 bytes, the size of the HMAC-SHA256
// key that signs the cookies.
const MinSessionKeyLen = 32

// Server is the web application. Create it with New; use Handler in tests and Serve in production.
type Server struct {
	cfg      Config
	db       *tenancy.DB
	accounts *account.Service
	logger   *slog.Logger
	hosts    *hostCache
	sessions *sessions.CookieStore
	views    *views
	def      *schemadef.Definition
	handler  http.Handler
	metrics  *webMetrics
	load     *tenantLoad // the noisiest tenants (TenantLoadHandler)

	// publicHosts are the public site's host names (the base domain and www.).
	publicHosts map[string]bool

	spareWake chan struct{} // see keepSpares

	exports chan struct{} // one token per running tenant export (see handleAdminTenantExport)

	draining     atomic.Bool   // set when Serve's context ends: /readyz answers 503
	endDrain     chan struct{} // closed by EndDrain
	endDrainOnce sync.Once
}

// New checks cfg and builds a server on db. It parses every template (a broken template fails
// here, not on the first request) and does not touch the network.
func New(cfg Config, db *tenancy.DB, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BaseDomain == "" {
		return nil, errors.New("web: no base domain")
	}
	base, err := tenancy.NormalizeDomain(cfg.BaseDomain)
	if err != nil {
		return nil, fmt.Errorf("web: base domain: %w", err)
	}
	cfg.BaseDomain = base
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.LoginLimits.Client.Burst <= 0 {
		cfg.LoginLimits.Client = account.DefaultLoginLimits.Client
	}
	for i, k := range cfg.SessionKeys {
		if len(k) < MinSessionKeyLen {
			return nil, fmt.Errorf("web: session key %d is %d bytes long; each key must be at least %d bytes", i+1, len(k), MinSessionKeyLen)
		}
	}
	if len(cfg.SessionKeys) == 0 {
		if !cfg.Dev {
			return nil, fmt.Errorf("web: no session key: give one or more random keys of at least %d bytes", MinSessionKeyLen)
		}
		// Development only: sessions end when the process does.
		cfg.SessionKeys = [][]byte{[]byte(rand.Text() + rand.Text())}
	}
	v, err := parseViews()
	if err != nil {
		return nil, err
	}
	def, err := schemadef.Default()
	if err != nil {
		return nil, fmt.Errorf("web: schema definition: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		db:          db,
		accounts:    account.New(db),
		logger:      logger,
		hosts:       newHostCache(db, logger),
		sessions:    newSessionStore(cfg),
		views:       v,
		def:         def,
		publicHosts: map[string]bool{base: true, "www." + base: true},
		spareWake:   make(chan struct{}, 1),
		exports:     make(chan struct{}, maxExports),
		endDrain:    make(chan struct{}),
		load:        newTenantLoad(time.Minute),
	}
	if s.metrics, err = newWebMetrics(cfg.Metrics, s.hosts); err != nil {
		return nil, err
	}
	s.hosts.countLookup = func(result string) { s.metrics.hostLookups.WithLabelValues(result).Inc() }
	s.handler = s.routes()
	return s, nil
}

// Handler returns the whole application as one http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// WatchHosts keeps the host cache fresh with LISTEN on tenancy.HostsChannel over
// cfg.DirectDatabaseURL, reconnecting on failure, until ctx is done. Serve calls it; tests that
// use Handler directly may call it too. Without a direct URL it returns at once.
func (s *Server) WatchHosts(ctx context.Context) error {
	if s.cfg.DirectDatabaseURL == "" {
		return nil
	}
	return s.hosts.listener(s.cfg.DirectDatabaseURL).Run(ctx)
}

// Serve serves on ln until ctx is done, then drains and shuts down gracefully:
//
//  1. Draining (cfg.DrainDelay, or until EndDrain): /readyz answers 503 so that load balancers
//     stop sending new requests here, but every request that still arrives is served as usual
//     and /healthz stays 200 (the process is fine, it is leaving).
//  2. Shutdown: stop accepting connections, close idle ones, and wait up to
//     cfg.ShutdownTimeout for in-flight requests to finish.
//  3. Stop the background work (WatchHosts, keepSpares, the purges) and wait for it.
//
// Nothing it started touches the database after it returns, so the caller may close the
// database then.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	// The background work outlives ctx by the drain and the graceful shutdown, so that
	// in-flight requests still see fresh hosts, and is stopped and waited for on every way out.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	background.Go(func() { _ = s.WatchHosts(bgCtx) })
	background.Go(func() { s.keepSpares(bgCtx) })
	background.Go(func() { s.purgeEvery(bgCtx, sessionPurgeEvery, "expired sessions", s.accounts.PurgeExpiredSessions) })
	background.Go(func() { s.purgeEvery(bgCtx, limitsPurgeEvery, "limits", s.accounts.PurgeLimits) })

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.logger.Info("listening", "addr", ln.Addr().String(), "public_site", s.publicURL(ln.Addr()))

	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	if d := s.cfg.DrainDelay; d > 0 {
		s.logger.Info("draining: /readyz answers 503, requests are still served", "delay", d)
		drain := time.NewTimer(d)
		select {
		case err := <-errc:
			drain.Stop()
			return fmt.Errorf("web: serve: %w", err)
		case <-drain.C:
		case <-s.endDrain:
			drain.Stop()
			s.logger.Info("drain cut short")
		}
	}
	s.logger.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}

// EndDrain ends Serve's drain now (a second SIGTERM, say): Serve goes on to shut down,
// still letting in-flight requests finish. Called before Serve's context ends, it makes the
// drain, when it comes, end at once. It may be called any number of times.
func (s *Server) EndDrain() {
	s.endDrainOnce.Do(func() { close(s.endDrain) })
}

// Draining reports whether Serve has been told to stop (its context ended): /readyz then
// answers 503 while the remaining requests are served.
func (s *Server) Draining() bool { return s.draining.Load() }

// publicURL is the public site's URL for a listening address, for the start-up log line.
func (s *Server) publicURL(addr net.Addr) string {
	scheme := "http"
	if s.cfg.SecureCookies {
		scheme = "https"
	}
	port := ""
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.Port != 80 && tcp.Port != 443 {
		port = fmt.Sprintf(":%d", tcp.Port)
	}
	return scheme + "://" + s.cfg.BaseDomain + port + "/"
}

// purgeEvery runs purge (a delete of rows that mean nothing any more) now and then every
// interval until ctx is done; Serve runs it in the background and waits for it. A failure is
// logged and tried again at the next tick.
func (s *Server) purgeEvery(ctx context.Context, interval time.Duration, what string, purge func(context.Context) (int64, error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := purge(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("cannot purge "+what, "error", err)
		} else if n > 0 {
			s.logger.Debug("purged "+what, "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
