package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/mailtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/tenancy"
)

func TestServeConfig(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 32)
	base := map[string]string{"DATABASE_URL": "postgres://db/x", "TOODOO_SESSION_KEYS": key,
		"TOODOO_SMTP_URL": "smtp://user:pw@mail.example.com", "TOODOO_MAIL_FROM": "Toodoo <noreply@example.com>"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, test := range []struct {
		name    string
		vars    map[string]string
		args    []string
		check   func(serveOptions) bool
		wantErr string
	}{
		{"defaults", base, nil, func(o serveOptions) bool {
			return o.Addr == ":8080" && o.Web.BaseDomain == "localhost" && o.Web.DirectDatabaseURL == "postgres://db/x" &&
				len(o.Web.SessionKeys) == 1 && !o.Web.SecureCookies && o.LogFormat == "auto" && o.LogLevel == slog.LevelInfo &&
				o.Web.SpareSchemas == 2 && !o.Web.Dev && o.Mail.DatabaseURL == "postgres://db/x" && o.Mail.ListenURL == "postgres://db/x" &&
				o.Mail.Sender.(*mail.SMTP).Addr() == "mail.example.com:587" && o.Mail.Sender.(*mail.SMTP).From() == `"Toodoo" <noreply@example.com>` &&
				o.Web.DrainDelay == 5*time.Second
		}, ""},
		{"mail poll only", with("TOODOO_DIRECT_DATABASE_URL", "postgres://direct/x", "TOODOO_MAIL_POLL_ONLY", "true"), nil, func(o serveOptions) bool {
			return o.Mail.ListenURL == "" && o.Web.DirectDatabaseURL == "postgres://direct/x"
		}, ""},
		{"mail listens on the direct URL", with("TOODOO_DIRECT_DATABASE_URL", "postgres://direct/x"), []string{"--mail-poll-only=false", "--mail-from", "ops@example.com"}, func(o serveOptions) bool {
			return o.Mail.ListenURL == "postgres://direct/x" && o.Mail.DatabaseURL == "postgres://db/x" && o.Mail.Sender.(*mail.SMTP).From() == "<ops@example.com>"
		}, ""},
		{"no SMTP URL", with("TOODOO_SMTP_URL", ""), nil, nil, "TOODOO_SMTP_URL is not set"},
		{"no mail from", with("TOODOO_MAIL_FROM", ""), nil, nil, "TOODOO_MAIL_FROM is not set"},
		{"bad SMTP URL", with("TOODOO_SMTP_URL", "smtp://user:secret@mail.example.com?tls=none"), nil, nil, "only for a server on this machine"},
		{"bad mail from", with("TOODOO_MAIL_FROM", "nobody"), nil, nil, "not an address"},
		{"bad poll only", with("TOODOO_MAIL_POLL_ONLY", "maybe"), nil, nil, "not a boolean"},
		{"drain delay from the environment", with("TOODOO_DRAIN_DELAY", "250ms"), nil, func(o serveOptions) bool { return o.Web.DrainDelay == 250*time.Millisecond }, ""},
		{"drain delay flag", with("TOODOO_DRAIN_DELAY", "250ms"), []string{"--drain-delay", "0"}, func(o serveOptions) bool { return o.Web.DrainDelay == 0 }, ""},
		{"no metrics address", base, nil, func(o serveOptions) bool { return o.MetricsAddr == "" }, ""},
		{"metrics address from the environment", with("TOODOO_METRICS_ADDR", "127.0.0.1:9090"), nil, func(o serveOptions) bool { return o.MetricsAddr == "127.0.0.1:9090" }, ""},
		{"metrics address flag", with("TOODOO_METRICS_ADDR", "127.0.0.1:9090"), []string{"--metrics-addr", ":9100"}, func(o serveOptions) bool { return o.MetricsAddr == ":9100" }, ""},
		{"metrics on the public address", with("TOODOO_ADDR", ":9000"), []string{"--metrics-addr", ":9000"}, nil, "metrics must be served apart"},
		{"bad drain delay", with("TOODOO_DRAIN_DELAY", "5"), nil, nil, "drain delay"},
		{"negative drain delay", base, []string{"--drain-delay", "-1s"}, nil, "drain delay"},
		{"drain delay too long", base, []string{"--drain-delay", "1h"}, nil, "drain delay"},
		{"environment", with("TOODOO_ADDR", ":9000", "TOODOO_BASE_DOMAIN", "todo.example.com", "TOODOO_DIRECT_DATABASE_URL", "postgres://direct/x",
			"TOODOO_SECURE_COOKIES", "true", "TOODOO_TRUSTED_PROXIES", "10.0.0.0/8", "TOODOO_SESSION_KEYS", key+"1,"+key+"2",
			"TOODOO_SPARE_SCHEMAS", "0", "TOODOO_LOG_FORMAT", "text", "TOODOO_LOG_LEVEL", "warn"), nil, func(o serveOptions) bool {
			return o.Web.SpareSchemas == 0 && o.LogFormat == "text" && o.LogLevel == slog.LevelWarn && o.Addr == ":9000" && o.Web.BaseDomain == "todo.example.com" && o.Web.DirectDatabaseURL == "postgres://direct/x" &&
				o.Web.SecureCookies && len(o.Web.TrustedProxies) == 1 && len(o.Web.SessionKeys) == 2 && string(o.Web.SessionKeys[0]) == key+"1"
		}, ""},
		{"flags override", with("TOODOO_ADDR", ":9000", "TOODOO_SECURE_COOKIES", "true"), []string{"--addr", ":7000", "--secure-cookies=false", "--log-format", "json", "--log-level", "debug"}, func(o serveOptions) bool {
			return o.Addr == ":7000" && !o.Web.SecureCookies && o.LogFormat == "json" && o.LogLevel == slog.LevelDebug
		}, ""},
		{"every flag", with("TOODOO_BASE_DOMAIN", "env.example.com", "TOODOO_SPARE_SCHEMAS", "5"), []string{"--base-domain", "Todo.Example.COM", "--direct-database-url", "postgres://direct/y",
			"--trusted-proxies", "10.0.0.0/8,192.168.1.7", "--spare-schemas", "1", "--database-url", "postgres://db/y"}, func(o serveOptions) bool {
			return o.Web.BaseDomain == "todo.example.com" && o.Web.DirectDatabaseURL == "postgres://direct/y" && len(o.Web.TrustedProxies) == 2 &&
				o.Web.SpareSchemas == 1 && o.DatabaseURL == "postgres://db/y"
		}, ""},
		{"no database", map[string]string{"TOODOO_SESSION_KEYS": key}, nil, nil, "no database"},
		{"no session keys", with("TOODOO_SESSION_KEYS", ""), nil, nil, "TOODOO_SESSION_KEYS is not set"},
		{"short session key", with("TOODOO_SESSION_KEYS", "short"), nil, nil, "at least 32 bytes"},
		{"bad secure cookies", with("TOODOO_SECURE_COOKIES", "sure"), nil, nil, "not a boolean"},
		{"bad proxies", with("TOODOO_TRUSTED_PROXIES", "10.0.0.0/99"), nil, nil, "trusted proxies"},
		{"bad base domain", with("TOODOO_BASE_DOMAIN", "http://example.com"), nil, nil, "base domain"},
		{"bad spare schemas", with("TOODOO_SPARE_SCHEMAS", "-1"), nil, nil, "spare schemas"},
		{"bad log format", base, []string{"--log-format", "xml"}, nil, "log format"},
		{"bad log level", base, []string{"--log-level", "loud"}, nil, "log level"},
		{"extra argument", base, []string{"now"}, nil, "unexpected argument"},
	} {
		e := &env{Getenv: func(k string) string { return test.vars[k] }, Stdout: io.Discard, Stderr: io.Discard}
		o, err := serveConfig(test.args, e)
		switch {
		case test.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), test.wantErr) {
				t.Errorf("%s: error %v, want it to contain %q", test.name, err, test.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", test.name, err)
		case !test.check(o):
			t.Errorf("%s: unexpected options %+v", test.name, o)
		}
	}
}

// TestDevConfig: `toodoo dev` reads the same variables and flags through serveFlags, in dev
// mode: no session key needed, a text log by default.
func TestDevConfig(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		name  string
		vars  map[string]string
		args  []string
		check func(serveOptions) bool
	}{
		{"defaults", map[string]string{"DATABASE_URL": "postgres://db/x"}, nil, func(o serveOptions) bool {
			return o.Addr == ":8080" && o.Web.BaseDomain == "localhost" && o.Web.DirectDatabaseURL == "postgres://db/x" && o.Web.Dev &&
				len(o.Web.SessionKeys) == 0 && o.Web.SpareSchemas == 2 && o.LogFormat == "text" && o.LogLevel == slog.LevelInfo &&
				o.Mail.Sender.(*mail.SMTP).Addr() == "localhost:1025"
		}},
		{"environment and flags", map[string]string{"DATABASE_URL": "postgres://db/x", "TOODOO_ADDR": ":9000", "TOODOO_BASE_DOMAIN": "dev.test",
			"TOODOO_DIRECT_DATABASE_URL": "postgres://direct/x", "TOODOO_SESSION_KEYS": strings.Repeat("k", 32)}, []string{"--addr", "127.0.0.1:0", "--log-format", "json"}, func(o serveOptions) bool {
			return o.Addr == "127.0.0.1:0" && o.Web.BaseDomain == "dev.test" && o.Web.DirectDatabaseURL == "postgres://direct/x" &&
				len(o.Web.SessionKeys) == 1 && o.LogFormat == "json"
		}},
	} {
		e := &env{Getenv: func(k string) string { return test.vars[k] }, Stdout: io.Discard, Stderr: io.Discard}
		fs, dbURL := newFlagSet(e, "dev", "dev [flags]")
		build := serveFlags(fs, e, dbURL, true)
		if _, err := parseArgs(fs, test.args); err != nil {
			t.Fatalf("%s: %v", test.name, err)
		}
		if o, err := build(); err != nil {
			t.Errorf("%s: %v", test.name, err)
		} else if !test.check(o) {
			t.Errorf("%s: unexpected options %+v", test.name, o)
		}
	}
}

func TestParseSessionKeys(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 32)
	for _, test := range []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{long, 1, false},
		{long + "," + long + "2", 2, false},
		{" " + long + " , ", 1, false},
		{"short", 0, true},
		{long + ",short", 0, true},
	} {
		keys, err := parseSessionKeys(test.in)
		if len(keys) != test.want || (err != nil) != test.wantErr {
			t.Errorf("parseSessionKeys(%q) = %d keys, %v; want %d, error %t", test.in, len(keys), err, test.want, test.wantErr)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	got, err := parseTrustedProxies("10.0.0.0/8, 192.168.1.7 ,::1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "::1/128", "fd00::/8"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,nope"} {
		if _, err := parseTrustedProxies(bad); err == nil {
			t.Errorf("parseTrustedProxies(%q): no error", bad)
		}
	}
}

// TestServeRuns runs `toodoo serve` on a free port, checks that it answers, and stops it the
// way SIGTERM does (the context ends): it exits 0. Its metrics are served on their own address
// (TOODOO_METRICS_ADDR), and not on the public one.
func TestServeRuns(t *testing.T) {
	t.Parallel()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	c := newCLI(t)
	c.vars["TOODOO_ADDR"] = addr
	c.vars["TOODOO_METRICS_ADDR"] = metricsAddr
	c.ok("migrate") // a run in the CLI's process, which the server reports
	c.vars["TOODOO_SESSION_KEYS"] = strings.Repeat("s", 40)
	// The mail queue runs with the server: a mail queued in the database arrives.
	smtpSrv := mailtest.Start(t)
	c.vars["TOODOO_SMTP_URL"] = smtpSrv.URL()
	c.vars["TOODOO_MAIL_FROM"] = mailtest.From
	if dbtest.Pooled() {
		c.vars["TOODOO_MAIL_POLL_ONLY"] = "true" // no direct URL here: poll through PgBouncer
	}
	ctx, cancel := context.WithCancel(t.Context())
	codes := make(chan int, 1)
	go func() {
		codes <- run(ctx, []string{"serve"}, &env{Getenv: func(k string) string { return c.vars[k] }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("toodoo serve did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Host = "nowhere.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown host: %d", resp.StatusCode)
	}
	// The metrics moved, on the metrics address; the public listener has no /metrics.
	scrape := httpGet(t, "http://"+metricsAddr+"/metrics", "")
	for _, line := range []string{
		`toodoo_http_requests_total{code="404",method="GET",route="(none)",site="none"} 1`,
		`toodoo_host_lookups_total{result="db_unknown"} 1`,
		`toodoo_stats_up 1`,
		`toodoo_db_pool_max_connections `,
		`toodoo_migrator_run_duration_seconds_count{outcome="ok"} 1`, // the CLI's migrate above
	} {
		if !strings.Contains(scrape, "\n"+line) {
			t.Errorf("metrics lack %q:\n%s", line, scrape)
		}
	}
	if !strings.Contains(scrape, `toodoo_http_requests_total{code="200",method="GET",route="/readyz",site="none"}`) {
		t.Errorf("metrics lack the /readyz requests")
	}
	if top := httpGet(t, "http://"+metricsAddr+"/tenants/top", ""); !strings.Contains(top, `"tenants":[]`) {
		t.Errorf("tenants/top: %s", top)
	}
	for _, host := range []string{"localhost", "nowhere.localhost"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "toodoo_") {
			t.Errorf("GET /metrics on the public listener (%s): %d %.200q; want 404", host, resp.StatusCode, body)
		}
	}
	db := testfactory.DB(t.Context(), t, c.vars["DATABASE_URL"])
	if err := db.SharedTx(t.Context(), func(ctx context.Context, tx *tenancy.Tx) error {
		return tx.Enqueue(ctx, mail.Message{To: "ops@example.com", Subject: "Served", Text: "The queue runs."})
	}); err != nil {
		t.Fatal(err)
	}
	smtpSrv.Wait(t, "ops@example.com", "Served")
	cancel()
	select {
	case code := <-codes:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("toodoo serve did not stop")
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// httpGet returns the body of a 200 answer to GET url, failing the test otherwise.
func httpGet(t *testing.T, url, host string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, resp.StatusCode, body)
	}
	return string(body)
}
