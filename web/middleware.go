package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/tenancy"
)

type contextKey int

const (
	reqInfoKey contextKey = iota
	siteKey
	userKey
)

// reqInfo is filled in as the request goes down the chain and logged once when it comes back
// (an outer middleware cannot see context values set further in, so it hands down a pointer).
type reqInfo struct {
	ID       string
	ClientIP string // after trusted proxies
	Scheme   string // "http" or "https", after trusted proxies
	Tenant   string // the schema, or "" on the public site
	Site     string // "public" or "tenant" once the host is resolved (metrics)
	Route    string // the matched route's pattern (metrics), "" if none matched
	UserID   int64
	Session  *sessionState
}

func info(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqInfoKey).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// statusRecorder remembers the status for the log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequest gives the request an id and logs one line when it is done: request id, tenant,
// user, method, path, status, duration.
func (s *Server) logRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{ID: newRequestID(), Scheme: "http"}
		if r.TLS != nil {
			ri.Scheme = "https"
		}
		ri.ClientIP = remoteIP(r)
		rec := &statusRecorder{ResponseWriter: w}
		rec.Header().Set("X-Request-Id", ri.ID)
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec() // also when an aborted handler panics through
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), reqInfoKey, ri)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		took := time.Since(start)
		s.metrics.observe(ri, r.Method, rec.status, took)
		if ri.Tenant != "" {
			s.load.add(ri.Tenant, took, rec.status >= 500)
		}
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || strings.HasPrefix(r.URL.Path, "/static/") {
			level = slog.LevelDebug
		}
		s.logger.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", ri.ID),
			slog.String("tenant", ri.Tenant),
			slog.Int64("user_id", ri.UserID),
			slog.String("method", r.Method),
			slog.String("host", r.Host),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", took),
			slog.String("client", ri.ClientIP),
		)
	})
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverPanic turns a panic into a logged 500 instead of a dropped connection.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil || p == http.ErrAbortHandler {
				if p != nil {
					panic(p)
				}
				return
			}
			s.writeError(w, r, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
		}()
		next.ServeHTTP(w, r)
	})
}

// remoteIP is the address of the peer, without port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// trustProxies believes X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto when, and only
// when, the peer is a trusted proxy. The client is the right-most address of X-Forwarded-For
// that is not itself a trusted proxy (left-most entries are whatever the client claimed).
func (s *Server) trustProxies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.TrustedProxies) == 0 || !s.trusted(remoteIP(r)) {
			next.ServeHTTP(w, r)
			return
		}
		ri := info(r.Context())
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			addrs := strings.Split(strings.Join(xff, ","), ",")
			for i := len(addrs) - 1; i >= 0; i-- {
				a := strings.TrimSpace(addrs[i])
				if a == "" {
					continue
				}
				ri.ClientIP = a
				if !s.trusted(a) {
					break
				}
			}
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			r.Host = strings.TrimSpace(strings.Split(h, ",")[0])
		}
		switch p := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0])); p {
		case "http", "https":
			ri.Scheme = p
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) trusted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// securityHeaders sets headers that cost nothing and close whole classes of holes: no framing,
// no content sniffing, no third-party anything (every asset is ours), no referrer to elsewhere.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if s.cfg.SecureCookies {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body; reading past the cap fails with *http.MaxBytesError,
// which errors.go turns into 413. A body with a Content-Length over the cap is refused at once.
// A form body is parsed here, before any handler: r.PostFormValue swallows the error of a body
// that turns out too large only while it is read (chunked, no Content-Length), and a handler
// would see an empty form and answer "Enter a title." instead of 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.writeError(w, r, errTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if isForm(r) {
			if err := r.ParseForm(); err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					s.writeError(w, r, errTooLarge)
				} else {
					s.writeError(w, r, errBadForm)
				}
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isForm reports whether r carries a URL-encoded form body (what every form of the pages sends).
func isForm(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// resolveHost finds the site the request is for and puts it in the context. An unknown host gets
// the same 404 page whatever the host (never a database error), a suspended tenant a 403 page.
func (s *Server) resolveHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := tenancy.NormalizeHost(r.Host)
		if s.publicHosts[host] {
			info(r.Context()).Site = "public"
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), siteKey, site{Public: true})))
			return
		}
		t, err := s.hosts.lookup(r.Context(), host)
		if err != nil {
			// errUnknownHost, or a database failure shown as a generic 500 (and logged).
			s.writeError(w, r, err)
			return
		}
		info(r.Context()).Tenant = t.Schema
		info(r.Context()).Site = "tenant"
		ctx := context.WithValue(r.Context(), siteKey, site{Tenant: t})
		if t.Status != tenancy.StatusActive {
			s.writeError(w, r.WithContext(ctx), toodoo.Errorf(toodoo.ESUSPENDED, "This workspace is suspended."))
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// siteFrom returns the site resolved for the request.
func siteFrom(ctx context.Context) site {
	st, _ := ctx.Value(siteKey).(site)
	return st
}
