package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/metrics"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
	"github.com/toodoo/toodoo/web"
)

// The defaults of the server's configuration, written once: `toodoo serve` and `toodoo dev`
// read them through serveFlags, `toodoo tenant create` through baseDomain.
const (
	defaultAddr         = ":8080"
	defaultBaseDomain   = "localhost"
	defaultSpareSchemas = 2
	// defaultDrainDelay outlasts a balancer's health checks (HAProxy's deploy/fleet config
	// takes a replica out within about a second); `toodoo dev` does not drain.
	defaultDrainDelay = 5 * time.Second
	maxDrainDelay     = 5 * time.Minute
)

// serveOptions is everything `toodoo serve` and `toodoo dev` read, from the environment and
// then flags.
type serveOptions struct {
	DatabaseURL string
	Addr        string // where to listen
	MetricsAddr string // where to serve /metrics and /tenants/top; "" for nowhere
	Web         web.Config
	LogFormat   string // "json", "text" or "auto" (JSON unless stderr is a terminal)
	LogLevel    slog.Level
	Mail        mail.Config // the queue's runner; its Sender is set (TOODOO_SMTP_URL)
}

// The mail defaults of `toodoo dev`. Without TOODOO_SMTP_URL, runDev sends to the mail catcher
// it starts in-process (on this port when it is free), so no TLS.
const (
	devSMTPURL  = "smtp://localhost:1025?tls=none"
	devMailFrom = "Toodoo <noreply@localhost>"
)

// serveFlags is the one place that reads the server's configuration. It registers on fs the
// flags `toodoo serve` and `toodoo dev` share, each defaulting to its environment variable and
// then to the built-in default, and returns the function that checks them and builds the
// options once fs is parsed. It does not touch the network, so it is table-tested.
//
//	DATABASE_URL                 --database-url         PostgreSQL URL (required)
//	TOODOO_DIRECT_DATABASE_URL   --direct-database-url  URL for LISTEN, bypassing a transaction pooler (default DATABASE_URL)
//	TOODOO_ADDR                  --addr                 listen address (default :8080)
//	TOODOO_BASE_DOMAIN           --base-domain          the public site's domain (default localhost)
//	TOODOO_SESSION_KEYS          (environment only)     comma-separated keys, each >= 32 bytes; the first signs
//	TOODOO_SECURE_COOKIES        --secure-cookies       mark cookies Secure (HTTPS)
//	TOODOO_TRUSTED_PROXIES       --trusted-proxies      CIDRs whose X-Forwarded-* headers are believed
//	TOODOO_LOG_FORMAT            --log-format           json, text or auto (dev: default text)
//	TOODOO_LOG_LEVEL             --log-level            debug, info, warn or error
//	TOODOO_SPARE_SCHEMAS         --spare-schemas        spare tenant schemas kept ready for sign-ups (default 2)
//	TOODOO_SMTP_URL              (environment only)     smtp://[user:pass@]host[:port] (STARTTLS), smtps://...; required outside dev
//	TOODOO_MAIL_FROM             --mail-from            the From address of Toodoo's mail; required outside dev
//	TOODOO_MAIL_POLL_ONLY        --mail-poll-only       the mail queue polls instead of LISTENing on the direct URL
//	TOODOO_DRAIN_DELAY           --drain-delay          on SIGTERM, fail /readyz and keep serving this long (default 5s; dev 0)
//	TOODOO_METRICS_ADDR          --metrics-addr         address of /metrics and /tenants/top, never the public one (default: none)
//
// dev is `toodoo dev`: session keys may be missing (web.Config.Dev then makes one up for the
// process), and the log is text unless asked otherwise.
func serveFlags(fs *flag.FlagSet, e *env, dbURL *string, dev bool) func() (serveOptions, error) {
	logFormatDefault := "auto"
	if dev {
		logFormatDefault = "text"
	}
	direct := fs.String("direct-database-url", e.Getenv("TOODOO_DIRECT_DATABASE_URL"), "`URL` for LISTEN/NOTIFY that does not pass through a transaction-mode pooler (default $TOODOO_DIRECT_DATABASE_URL, else the database URL)")
	addr := fs.String("addr", cmp.Or(e.Getenv("TOODOO_ADDR"), defaultAddr), "`address` to listen on (default $TOODOO_ADDR or "+defaultAddr+")")
	base := fs.String("base-domain", cmp.Or(e.Getenv("TOODOO_BASE_DOMAIN"), defaultBaseDomain), "the public site's `domain` (default $TOODOO_BASE_DOMAIN or "+defaultBaseDomain+")")
	secure := fs.String("secure-cookies", e.Getenv("TOODOO_SECURE_COOKIES"), "mark cookies Secure, for HTTPS (`bool`, default $TOODOO_SECURE_COOKIES or false)")
	proxies := fs.String("trusted-proxies", e.Getenv("TOODOO_TRUSTED_PROXIES"), "comma-separated `CIDRs` whose X-Forwarded-For/-Host/-Proto are believed (default $TOODOO_TRUSTED_PROXIES)")
	logFormat := fs.String("log-format", cmp.Or(e.Getenv("TOODOO_LOG_FORMAT"), logFormatDefault), "`json`, text or auto (JSON unless stderr is a terminal; default $TOODOO_LOG_FORMAT or "+logFormatDefault+")")
	logLevel := fs.String("log-level", cmp.Or(e.Getenv("TOODOO_LOG_LEVEL"), "info"), "`level`: debug, info, warn or error")
	drainDefault := defaultDrainDelay.String()
	if dev {
		drainDefault = "0s"
	}
	drain := fs.String("drain-delay", cmp.Or(e.Getenv("TOODOO_DRAIN_DELAY"), drainDefault), "on SIGINT/SIGTERM, answer /readyz with 503 and go on serving for this `duration` before shutting down, so that load balancers take the process out first (default $TOODOO_DRAIN_DELAY or "+drainDefault+"; a second signal ends it)")
	metricsAddr := fs.String("metrics-addr", e.Getenv("TOODOO_METRICS_ADDR"), "`address` to serve Prometheus metrics (/metrics) and the noisiest tenants (/tenants/top) on, apart from the public listener, e.g. 127.0.0.1:9090 (default $TOODOO_METRICS_ADDR; empty: not served)")
	spares := fs.String("spare-schemas", cmp.Or(e.Getenv("TOODOO_SPARE_SCHEMAS"), strconv.Itoa(defaultSpareSchemas)), fmt.Sprintf("how many spare tenant schemas to keep ready for sign-ups (`n`, default $TOODOO_SPARE_SCHEMAS or %d; 0: none)", defaultSpareSchemas))
	mailFrom := fs.String("mail-from", e.Getenv("TOODOO_MAIL_FROM"), "the From `address` of Toodoo's mail (default $TOODOO_MAIL_FROM)")
	pollOnly := fs.String("mail-poll-only", e.Getenv("TOODOO_MAIL_POLL_ONLY"), "the mail queue polls for jobs instead of LISTENing on the direct URL, for deployments where no URL bypasses the pooler (`bool`, default $TOODOO_MAIL_POLL_ONLY or false)")
	return func() (serveOptions, error) {
		cmd := fs.Name()
		var o serveOptions
		if *dbURL == "" {
			return o, usagef("%s: no database: set DATABASE_URL or pass --database-url", cmd)
		}
		o.DatabaseURL = *dbURL
		o.Addr = *addr
		o.MetricsAddr = strings.TrimSpace(*metricsAddr)
		if o.MetricsAddr != "" && o.MetricsAddr == o.Addr {
			return o, usagef("%s: metrics address %s is the public listen address: metrics must be served apart (e.g. 127.0.0.1:9090)", cmd, o.MetricsAddr)
		}
		baseDomain, err := tenancy.NormalizeDomain(*base)
		if err != nil {
			return o, usagef("%s: base domain: %s", cmd, toodoo.ErrorMessage(err))
		}
		o.Web = web.Config{
			BaseDomain:        baseDomain,
			DirectDatabaseURL: cmp.Or(*direct, *dbURL),
			Dev:               dev,
		}
		keys, err := parseSessionKeys(e.Getenv("TOODOO_SESSION_KEYS"))
		if err != nil {
			return o, usagef("%s: TOODOO_SESSION_KEYS: %s", cmd, err)
		}
		if len(keys) == 0 && !dev {
			return o, usagef("%s: TOODOO_SESSION_KEYS is not set: give one or more comma-separated random strings of at least %d bytes (e.g. from `openssl rand -base64 48`); `toodoo dev` works without", cmd, web.MinSessionKeyLen)
		}
		o.Web.SessionKeys = keys
		if *secure != "" {
			b, err := strconv.ParseBool(*secure)
			if err != nil {
				return o, usagef("%s: secure cookies: %q is not a boolean (true or false)", cmd, *secure)
			}
			o.Web.SecureCookies = b
		}
		n, err := strconv.Atoi(*spares)
		if err != nil || n < 0 || n > 100 {
			return o, usagef("%s: spare schemas %q: use a number from 0 to 100", cmd, *spares)
		}
		o.Web.SpareSchemas = n
		d, err := time.ParseDuration(*drain)
		if err != nil || d < 0 || d > maxDrainDelay {
			return o, usagef("%s: drain delay %q: use a duration from 0s to %s, e.g. 5s", cmd, *drain, maxDrainDelay)
		}
		o.Web.DrainDelay = d
		if o.Web.TrustedProxies, err = parseTrustedProxies(*proxies); err != nil {
			return o, usagef("%s: trusted proxies: %s", cmd, err)
		}
		smtpURL, from := e.Getenv("TOODOO_SMTP_URL"), *mailFrom
		if dev {
			smtpURL, from = cmp.Or(smtpURL, devSMTPURL), cmp.Or(from, devMailFrom)
		}
		switch {
		case smtpURL == "":
			return o, usagef("%s: TOODOO_SMTP_URL is not set: Toodoo sends mail (verification, password reset, invitations); e.g. smtp://user:password@mail.example.com (STARTTLS) or smtps://... (`toodoo dev` defaults to %s)", cmd, devSMTPURL)
		case from == "":
			return o, usagef("%s: TOODOO_MAIL_FROM is not set: the From address of Toodoo's mail, e.g. \"Toodoo <noreply@example.com>\"", cmd)
		}
		sender, err := mail.ParseSMTPURL(smtpURL, from)
		if err != nil {
			return o, usagef("%s: %s", cmd, err)
		}
		o.Mail = mail.Config{DatabaseURL: *dbURL, ListenURL: o.Web.DirectDatabaseURL, Sender: sender}
		if *pollOnly != "" {
			b, err := strconv.ParseBool(*pollOnly)
			if err != nil {
				return o, usagef("%s: mail poll only: %q is not a boolean (true or false)", cmd, *pollOnly)
			}
			if b {
				o.Mail.ListenURL = ""
			}
		}
		switch f := strings.ToLower(*logFormat); f {
		case "json", "text", "auto":
			o.LogFormat = f
		default:
			return o, usagef("%s: log format %q: use json, text or auto", cmd, *logFormat)
		}
		if err := o.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
			return o, usagef("%s: log level %q: use debug, info, warn or error", cmd, *logLevel)
		}
		return o, nil
	}
}

// parseSessionKeys parses TOODOO_SESSION_KEYS: comma-separated keys, each at least
// web.MinSessionKeyLen bytes (e.g. from `openssl rand -base64 48`).
func parseSessionKeys(s string) ([][]byte, error) {
	var keys [][]byte
	for i, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if len(k) < web.MinSessionKeyLen {
			return nil, fmt.Errorf("session key %d is %d bytes long; each key must be at least %d bytes (try: openssl rand -base64 48)", i+1, len(k), web.MinSessionKeyLen)
		}
		keys = append(keys, []byte(k))
	}
	return keys, nil
}

// parseTrustedProxies parses TOODOO_TRUSTED_PROXIES: comma-separated CIDRs or single addresses.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is neither a CIDR nor an address", p)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not a CIDR: %w", p, err)
		}
		out = append(out, prefix.Masked())
	}
	return out, nil
}

// serveConfig reads `toodoo serve`'s options (serveFlags).
func serveConfig(args []string, e *env) (serveOptions, error) {
	fs, dbURL := newFlagSet(e, "serve", "serve [flags]")
	build := serveFlags(fs, e, dbURL, false)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: toodoo serve [flags]\n\nRuns the web server until SIGINT or SIGTERM. TOODOO_SESSION_KEYS (comma-separated random\nstrings of at least 32 bytes; the first signs, all verify) is read from the environment only.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if _, err := parseArgs(fs, args); err != nil {
		return serveOptions{}, err
	}
	return build()
}

// runServe runs the web server until ctx is done (SIGINT or SIGTERM), then drains (/readyz
// answers 503 while requests are still served, for --drain-delay; a second SIGINT or SIGTERM
// ends the drain at once) and shuts down gracefully: stop accepting, finish in-flight requests
// (bounded), stop the server's background work, close the pool.
func runServe(ctx context.Context, args []string, e *env) error {
	o, err := serveConfig(args, e)
	if err != nil {
		return err
	}
	logger := newLogger(e.Stderr, o.LogFormat, o.LogLevel)
	db, err := openDB(ctx, e, o.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	mon, err := newMonitoring(db, &o)
	if err != nil {
		return err
	}
	srv, err := web.New(o.Web, db, logger)
	if err != nil {
		return err
	}
	if err := mon.listen("serve", o.MetricsAddr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		mon.close()
		return fmt.Errorf("serve: listen on %s: %w", o.Addr, err)
	}
	stopWatch := endDrainOnSecondSignal(srv)
	defer stopWatch()
	if err := serveWithMail(ctx, srv, ln, o.Mail, logger, mon); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// serveWithMail runs the web server and the mail queue's runner together, and the metrics'
// listener if mon has one: the runner and the metrics start before the server and stop after it
// (the last requests may still queue mail, which the runner sends or leaves in the queue for the
// next process; the drain can be watched), and all are awaited.
func serveWithMail(ctx context.Context, srv *web.Server, ln net.Listener, cfg mail.Config, logger *slog.Logger, mon *monitoring) error {
	cfg.Logger = logger
	runner, err := mail.NewRunner(ctx, cfg)
	if err != nil {
		_ = ln.Close()
		mon.close()
		return err
	}
	afterCtx, stopAfter := context.WithCancel(context.WithoutCancel(ctx))
	mailDone := make(chan error, 1)
	go func() { mailDone <- runner.Run(afterCtx) }()
	if s, ok := cfg.Sender.(interface{ Addr() string }); ok {
		logger.Info("mail queue running", "smtp", s.Addr(), "listen", cfg.ListenURL != "")
	}
	metricsDone := make(chan error, 1)
	if mon.ln != nil {
		go func() { metricsDone <- metrics.Serve(afterCtx, mon.ln, mon.handler(srv), logger) }()
	} else {
		metricsDone <- nil
	}
	serveErr := srv.Serve(ctx, ln)
	stopAfter()
	return errors.Join(serveErr, <-mailDone, <-metricsDone)
}

// monitoring is the process's metrics and, when an address is configured, their listener.
type monitoring struct {
	m  *metrics.Metrics
	ln net.Listener // nil: not served
}

// newMonitoring builds the metrics of a server on db and hooks them into o's web and mail
// configuration. Instruments always count; they are served only with a metrics address.
func newMonitoring(db *tenancy.DB, o *serveOptions) (*monitoring, error) {
	def, err := schemadef.Default()
	if err != nil {
		return nil, fmt.Errorf("schema definition: %w", err)
	}
	m := metrics.New(db, def)
	o.Web.Metrics = m.Registerer()
	o.Mail.AttemptFunc = m.MailAttempt
	return &monitoring{m: m}, nil
}

// listen opens the metrics' listener on addr ("" for none).
func (mon *monitoring) listen(cmd, addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: metrics: listen on %s: %w", cmd, addr, err)
	}
	mon.ln = ln
	return nil
}

// close closes the listener if serving never started.
func (mon *monitoring) close() {
	if mon.ln != nil {
		_ = mon.ln.Close()
	}
}

// handler is what the metrics' address serves: the metrics, and the noisiest tenants (which no
// metric names). Nothing else, and none of it on the public listener.
func (mon *monitoring) handler(srv *web.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mon.m.Handler())
	mux.Handle("GET /tenants/top", srv.TenantLoadHandler())
	return mux
}

// endDrainOnSecondSignal ends srv's drain at the second SIGINT or SIGTERM (main turns the first
// into ctx's end, which starts the drain). It counts the signals from now on, rather than those
// after ctx ended, because the first one reaches both main and here, in no set order. The
// returned function stops watching.
func endDrainOnSecondSignal(srv *web.Server) (stop func()) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 0; ; {
			select {
			case <-quit:
				return
			case <-sig:
				if n++; n == 2 {
					srv.EndDrain()
					return
				}
			}
		}
	})
	return func() {
		signal.Stop(sig)
		close(quit)
		wg.Wait()
	}
}

// newLogger returns the process's logger: JSON for machines unless stderr is a terminal (or
// format says otherwise).
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" || (format == "auto" && isTerminal(w)) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
