package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/toodoo/toodoo/web"
)

// serveOptions is everything `toodoo serve` reads, from the environment and then flags.
type serveOptions struct {
	DatabaseURL string
	Web         web.Config
	LogFormat   string // "json", "text" or "auto" (JSON unless stderr is a terminal)
	LogLevel    slog.Level
}

// serveConfig reads the environment, lets flags override it, and checks the result. It does not
// touch the network, so it is table-tested.
//
//	DATABASE_URL                 --database-url         PostgreSQL URL (required)
//	TOODOO_DIRECT_DATABASE_URL   --direct-database-url  URL for LISTEN, bypassing a transaction pooler (default DATABASE_URL)
//	TOODOO_ADDR                  --addr                 listen address (default :8080)
//	TOODOO_BASE_DOMAIN           --base-domain          the public site's domain (default localhost)
//	TOODOO_SESSION_KEYS          (environment only)     comma-separated keys, each >= 32 bytes; the first signs
//	TOODOO_SECURE_COOKIES        --secure-cookies       mark cookies Secure (HTTPS)
//	TOODOO_TRUSTED_PROXIES       --trusted-proxies      CIDRs whose X-Forwarded-* headers are believed
//	TOODOO_LOG_FORMAT            --log-format           json, text or auto
//	TOODOO_LOG_LEVEL             --log-level            debug, info, warn or error
//	TOODOO_SPARE_SCHEMAS         --spare-schemas        spare tenant schemas kept ready for sign-ups (default 2)
func serveConfig(args []string, e *env) (serveOptions, error) {
	fs, dbURL := newFlagSet(e, "serve", "serve [flags]")
	direct := fs.String("direct-database-url", e.Getenv("TOODOO_DIRECT_DATABASE_URL"), "`URL` for LISTEN/NOTIFY that does not pass through a transaction-mode pooler (default $TOODOO_DIRECT_DATABASE_URL, else the database URL)")
	addr := fs.String("addr", cmp.Or(e.Getenv("TOODOO_ADDR"), ":8080"), "`address` to listen on (default $TOODOO_ADDR or :8080)")
	base := fs.String("base-domain", cmp.Or(e.Getenv("TOODOO_BASE_DOMAIN"), "localhost"), "the public site's `domain` (default $TOODOO_BASE_DOMAIN or localhost)")
	secure := fs.String("secure-cookies", e.Getenv("TOODOO_SECURE_COOKIES"), "mark cookies Secure, for HTTPS (`bool`, default $TOODOO_SECURE_COOKIES or false)")
	proxies := fs.String("trusted-proxies", e.Getenv("TOODOO_TRUSTED_PROXIES"), "comma-separated `CIDRs` whose X-Forwarded-For/-Host/-Proto are believed (default $TOODOO_TRUSTED_PROXIES)")
	logFormat := fs.String("log-format", cmp.Or(e.Getenv("TOODOO_LOG_FORMAT"), "auto"), "`json`, text or auto (JSON unless stderr is a terminal)")
	logLevel := fs.String("log-level", cmp.Or(e.Getenv("TOODOO_LOG_LEVEL"), "info"), "`level`: debug, info, warn or error")
	spares := fs.String("spare-schemas", cmp.Or(e.Getenv("TOODOO_SPARE_SCHEMAS"), "2"), "how many spare tenant schemas to keep ready for sign-ups (`n`, default $TOODOO_SPARE_SCHEMAS or 2; 0: none)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: toodoo serve [flags]\n\nRuns the web server until SIGINT or SIGTERM. TOODOO_SESSION_KEYS (comma-separated random\nstrings of at least 32 bytes; the first signs, all verify) is read from the environment only.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if _, err := parseArgs(fs, args); err != nil {
		return serveOptions{}, err
	}
	var o serveOptions
	if *dbURL == "" {
		return o, usagef("serve: no database: set DATABASE_URL or pass --database-url")
	}
	o.DatabaseURL = *dbURL
	o.Web = web.Config{
		Addr:              *addr,
		BaseDomain:        *base,
		DirectDatabaseURL: cmp.Or(*direct, *dbURL),
	}
	keys, err := web.ParseSessionKeys(e.Getenv("TOODOO_SESSION_KEYS"))
	if err != nil {
		return o, usagef("serve: TOODOO_SESSION_KEYS: %s", err)
	}
	if len(keys) == 0 {
		return o, usagef("serve: TOODOO_SESSION_KEYS is not set: give one or more comma-separated random strings of at least %d bytes (e.g. from `openssl rand -base64 48`); `toodoo dev` works without", web.MinSessionKeyLen)
	}
	o.Web.SessionKeys = keys
	if *secure != "" {
		b, err := strconv.ParseBool(*secure)
		if err != nil {
			return o, usagef("serve: secure cookies: %q is not a boolean (true or false)", *secure)
		}
		o.Web.SecureCookies = b
	}
	if n, err := strconv.Atoi(*spares); err != nil || n < 0 || n > 100 {
		return o, usagef("serve: spare schemas %q: use a number from 0 to 100", *spares)
	} else {
		o.Web.SpareSchemas = n
	}
	if o.Web.TrustedProxies, err = web.ParseTrustedProxies(*proxies); err != nil {
		return o, usagef("serve: trusted proxies: %s", err)
	}
	switch f := strings.ToLower(*logFormat); f {
	case "json", "text", "auto":
		o.LogFormat = f
	default:
		return o, usagef("serve: log format %q: use json, text or auto", *logFormat)
	}
	if err := o.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return o, usagef("serve: log level %q: use debug, info, warn or error", *logLevel)
	}
	return o, nil
}

// runServe runs the web server until ctx is done (SIGINT or SIGTERM), then shuts down
// gracefully: stop accepting, finish in-flight requests (bounded), close the pool.
func runServe(ctx context.Context, args []string, e *env) error {
	o, err := serveConfig(args, e)
	if err != nil {
		return err
	}
	logger := newLogger(e.Stderr, o.LogFormat, o.LogLevel)
	db, err := openDB(ctx, o.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := web.New(o.Web, db, logger)
	if err != nil {
		return err
	}
	if err := srv.Run(ctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
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
