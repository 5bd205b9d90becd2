package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeConfig(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 32)
	base := map[string]string{"DATABASE_URL": "postgres://db/x", "TOODOO_SESSION_KEYS": key}
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
			return o.Web.Addr == ":8080" && o.Web.BaseDomain == "localhost" && o.Web.DirectDatabaseURL == "postgres://db/x" &&
				len(o.Web.SessionKeys) == 1 && !o.Web.SecureCookies && o.LogFormat == "auto" && o.LogLevel == slog.LevelInfo
		}, ""},
		{"environment", with("TOODOO_ADDR", ":9000", "TOODOO_BASE_DOMAIN", "todo.example.com", "TOODOO_DIRECT_DATABASE_URL", "postgres://direct/x",
			"TOODOO_SECURE_COOKIES", "true", "TOODOO_TRUSTED_PROXIES", "10.0.0.0/8", "TOODOO_SESSION_KEYS", key+"1,"+key+"2"), nil, func(o serveOptions) bool {
			return o.Web.Addr == ":9000" && o.Web.BaseDomain == "todo.example.com" && o.Web.DirectDatabaseURL == "postgres://direct/x" &&
				o.Web.SecureCookies && len(o.Web.TrustedProxies) == 1 && len(o.Web.SessionKeys) == 2 && string(o.Web.SessionKeys[0]) == key+"1"
		}, ""},
		{"flags override", with("TOODOO_ADDR", ":9000", "TOODOO_SECURE_COOKIES", "true"), []string{"--addr", ":7000", "--secure-cookies=false", "--log-format", "json", "--log-level", "debug"}, func(o serveOptions) bool {
			return o.Web.Addr == ":7000" && !o.Web.SecureCookies && o.LogFormat == "json" && o.LogLevel == slog.LevelDebug
		}, ""},
		{"no database", map[string]string{"TOODOO_SESSION_KEYS": key}, nil, nil, "no database"},
		{"no session keys", with("TOODOO_SESSION_KEYS", ""), nil, nil, "TOODOO_SESSION_KEYS is not set"},
		{"short session key", with("TOODOO_SESSION_KEYS", "short"), nil, nil, "at least 32 bytes"},
		{"bad secure cookies", with("TOODOO_SECURE_COOKIES", "sure"), nil, nil, "not a boolean"},
		{"bad proxies", with("TOODOO_TRUSTED_PROXIES", "10.0.0.0/99"), nil, nil, "trusted proxies"},
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

// TestServeRuns runs `toodoo serve` on a free port, checks that it answers, and stops it the
// way SIGTERM does (the context ends): it exits 0.
func TestServeRuns(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newCLI(t)
	c.vars["TOODOO_ADDR"] = addr
	c.vars["TOODOO_SESSION_KEYS"] = strings.Repeat("s", 40)
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
