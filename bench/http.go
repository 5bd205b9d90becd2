package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/toodoo/toodoo/internal/localproc"
	"github.com/toodoo/toodoo/tenancy"
	"github.com/toodoo/toodoo/web"
)

// httpOptions are bench http's knobs, read from the environment (Taskfile passes them on).
type httpOptions struct {
	Tenants  int           // BENCH_TENANTS: tenants seeded, the spread load's range (default 1000)
	Todos    int           // BENCH_TODOS: to-dos per tenant (default 20)
	Rounds   int           // BENCH_ROUNDS: alternating rounds (default 3)
	Duration time.Duration // BENCH_DURATION: each measurement (default 10s)
	Conns    int           // BENCH_CONNS: wrk connections and pgbench clients (default 16)
	PgWarmup time.Duration // BENCH_PG_WARMUP: pgbench's warm-up before the duration (default 5s; see runPgbench)
	Threads  int           // BENCH_THREADS: wrk threads and pgbench jobs (default 2)
	Port     int           // BENCH_PORT: the server's port (default 18801)
	Pool     string        // BENCH_POOL: extra URL parameters of the server's pool, e.g. pool_max_conns=8
	Only     string        // BENCH_ONLY: comma-separated scenarios to run (default all)
	// PageOwner (BENCH_PAGE_USER=owner) signs the page in as the benchmark user, who owns every
	// one of the N tenants (a menu of N workspaces: the heavy case); by default the page's user
	// is a member of the first tenant only, as most people are of one or two.
	PageOwner bool
	InProcess bool   // BENCH_INPROCESS=1: serve from this process (web.New) instead of the toodoo binary
	CPUProf   string // BENCH_CPUPROFILE=PREFIX: with BENCH_INPROCESS, a CPU profile per scenario of round 1, PREFIX-NAME.pprof
	// Servers compares builds or settings in the same run (BENCH_SERVERS): comma-separated
	// NAME=REV[?URL-PARAMS], REV "." for the working tree or a git revision (built from `git
	// archive`), URL-PARAMS added to the server's database URL, then space-separated VAR=VALUE
	// set in the server's environment; e.g.
	// "before=HEAD~3,after=.,after8=.?pool_max_conns=8,gc400=. GOGC=400". Default "toodoo=.".
	Servers []serverSpec
}

// serverSpec is one server of BENCH_SERVERS.
type serverSpec struct {
	Name, Rev, Params string
	Env               []string // VAR=VALUE for the server's process
	base              string   // http://127.0.0.1:port, once started
}

func parseServers(s string) []serverSpec {
	var out []serverSpec
	for _, item := range strings.Split(cmp.Or(s, "toodoo=."), ",") {
		fields := strings.Fields(item)
		if len(fields) == 0 {
			continue
		}
		name, rest, ok := strings.Cut(fields[0], "=")
		if !ok {
			name, rest = fields[0], "."
		}
		rev, params, _ := strings.Cut(rest, "?")
		out = append(out, serverSpec{Name: name, Rev: cmp.Or(rev, "."), Params: params, Env: fields[1:]})
	}
	return out
}

func httpOptionsFromEnv() httpOptions {
	return httpOptions{
		Tenants:   envInt("BENCH_TENANTS", 1000),
		Todos:     envInt("BENCH_TODOS", 20),
		Rounds:    envInt("BENCH_ROUNDS", 3),
		Duration:  envDuration("BENCH_DURATION", 10*time.Second),
		Conns:     envInt("BENCH_CONNS", 16),
		PgWarmup:  envDuration("BENCH_PG_WARMUP", 5*time.Second),
		Threads:   envInt("BENCH_THREADS", 2),
		Port:      envInt("BENCH_PORT", 18801),
		Pool:      os.Getenv("BENCH_POOL"),
		Only:      os.Getenv("BENCH_ONLY"),
		PageOwner: os.Getenv("BENCH_PAGE_USER") == "owner",
		InProcess: os.Getenv("BENCH_INPROCESS") == "1" || os.Getenv("BENCH_CPUPROFILE") != "",
		CPUProf:   os.Getenv("BENCH_CPUPROFILE"),
		Servers:   parseServers(os.Getenv("BENCH_SERVERS")),
	}
}

// scenario is one load, measured once per round.
type scenario struct {
	Name string
	What string
	run  func(ctx context.Context) (result, error)
}

// result is one measurement.
type result struct {
	RPS    float64 // requests (or transactions) per second
	P99ms  float64 // 0 when unknown (pgbench)
	Errors int     // non-2xx answers and socket errors
}

// djangoPeer is the peer's figure from the issue (GET / of a tenant, no login; 300-320 req/s on
// this machine). Python cannot be installed here, so it is not rerun.
const djangoPeer = 310.0

// runHTTP is `bench http`: a database, N tenants, the server, then every scenario once per
// round, the order rotating from round to round, and the medians and ratios.
func runHTTP(ctx context.Context, o httpOptions) error {
	for _, tool := range []string{"wrk", "pgbench"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (Debian: apt-get install wrk postgresql-client)", tool)
		}
	}
	logf("bench http: %d tenants x %d to-dos, %d rounds of %s, %d connections, %d threads", o.Tenants, o.Todos, o.Rounds, o.Duration, o.Conns, o.Threads)
	d, err := openDatabase(ctx, logf)
	if err != nil {
		return err
	}
	defer d.Close()
	logf("database: %s", d.What)
	if err := migratePublic(ctx, d.URL); err != nil {
		return err
	}
	db, err := tenancy.Open(ctx, d.URL)
	if err != nil {
		return err
	}
	start := time.Now()
	tokens, err := seedTenants(ctx, db, 1, o.Tenants, 2, true, o.Todos, nil)
	if err == nil && !o.PageOwner {
		err = seedPageUser(ctx, db)
	}
	db.Close()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	logf("seeded %d tenants in %s", o.Tenants, time.Since(start).Round(time.Millisecond))
	if _, err := psql(ctx, d.URL, "VACUUM ANALYZE"); err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "toodoo-bench-http-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for i := range o.Servers {
		sv := &o.Servers[i]
		srvURL := d.URL
		if sv.Params != "" {
			kv := []string{}
			for _, p := range strings.Split(sv.Params, "&") {
				k, v, _ := strings.Cut(p, "=")
				kv = append(kv, k, v)
			}
			srvURL = d.withParams(kv...)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", o.Port+i)
		stop, err := startServer(ctx, o, tmp, *sv, srvURL, addr)
		if err != nil {
			return fmt.Errorf("server %s: %w", sv.Name, err)
		}
		defer stop()
		sv.base = "http://" + addr
	}
	pageEmail := pageMemberEmail
	if o.PageOwner {
		pageEmail = benchEmail
	}
	cookie, err := signIn(ctx, o.Servers[0].base, tenantHost(1), pageEmail)
	if err != nil {
		return err
	}

	// The wrk scripts: one tenant signed in (page), one tenant by token (API), every tenant at
	// random by token (spread).
	pageLua := filepath.Join(tmp, "page.lua")
	apiLua := filepath.Join(tmp, "api.lua")
	spreadLua := filepath.Join(tmp, "spread.lua")
	if err := writeLua(pageLua, []target{{tenantHost(1), "", cookie}}, "/"); err != nil {
		return err
	}
	if err := writeLua(apiLua, []target{{tenantHost(1), tokens[0], ""}}, apiPath); err != nil {
		return err
	}
	all := make([]target, len(tokens))
	for i, tok := range tokens {
		all[i] = target{tenantHost(i + 1), tok, ""}
	}
	if err := writeLua(spreadLua, all, apiPath); err != nil {
		return err
	}
	pgSingle := filepath.Join(tmp, "single.sql")
	pgSpread := filepath.Join(tmp, "spread.sql")
	pgpSingle := filepath.Join(tmp, "single-prepared.sql")
	pgpSpread := filepath.Join(tmp, "spread-prepared.sql")
	random := fmt.Sprintf(`\set t random(1, %d)`, o.Tenants)
	for path, script := range map[string]string{
		pgSingle:  pgbenchScript("bench_1", ""),
		pgSpread:  pgbenchScript("bench_:t", random),
		pgpSingle: pgbenchPreparedScript("1", ""),
		pgpSpread: pgbenchPreparedScript(":t", random),
	} {
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			return err
		}
	}
	// Each check runs before each load: a page that redirects to /login would be fast and wrong.
	wrkRun := func(base, name, script string) func(ctx context.Context) (result, error) {
		return func(ctx context.Context) (result, error) {
			var err error
			switch name {
			case "page":
				err = expect(ctx, base, tenantHost(1), "/", "Cookie", cookie, "to-do 20 of bench_1")
			case "api":
				err = expect(ctx, base, tenantHost(1), apiPath, "Authorization", "Bearer "+tokens[0], `"todos":[{`)
			default:
				err = expect(ctx, base, tenantHost(o.Tenants), apiPath, "Authorization", "Bearer "+tokens[o.Tenants-1], `"todos":[{`)
			}
			if err != nil {
				return result{}, err
			}
			return runWrk(ctx, o, base, script)
		}
	}
	pgRun := func(mode, script string) func(ctx context.Context) (result, error) {
		return func(ctx context.Context) (result, error) { return runPgbench(ctx, o, d.URL, mode, script) }
	}
	var scenarios []scenario
	for _, sv := range o.Servers {
		suffix := ""
		if len(o.Servers) > 1 {
			suffix = "@" + sv.Name
		}
		scenarios = append(scenarios,
			scenario{"page" + suffix, pageWhat(o), wrkRun(sv.base, "page", pageLua)},
			scenario{"api" + suffix, "GET " + apiPath + " with a bearer token, one tenant", wrkRun(sv.base, "api", apiLua)},
			scenario{"api-spread" + suffix, fmt.Sprintf("the same, each request to a random one of %d tenants", o.Tenants), wrkRun(sv.base, "api-spread", spreadLua)},
		)
	}
	scenarios = append(scenarios,
		scenario{"pg", "pgbench -M simple: BEGIN READ ONLY; SET LOCAL search_path; the API's SELECT; COMMIT, one tenant", pgRun("simple", pgSingle)},
		scenario{"pg-spread", fmt.Sprintf("the same over %d random tenants", o.Tenants), pgRun("simple", pgSpread)},
		scenario{"pgp", "pgbench -M prepared: the same with set_config(search_path) and prepared statements, as pgx sends them, one tenant", pgRun("prepared", pgpSingle)},
		scenario{"pgp-spread", fmt.Sprintf("the same over %d random tenants", o.Tenants), pgRun("prepared", pgpSpread)},
	)
	if o.Only != "" {
		keep := strings.Split(o.Only, ",")
		scenarios = slices.DeleteFunc(scenarios, func(s scenario) bool {
			name, _, _ := strings.Cut(s.Name, "@")
			return !slices.Contains(keep, name)
		})
	}
	results := map[string][]result{}
	for round := range o.Rounds {
		for k := range scenarios {
			s := scenarios[(k+round)%len(scenarios)] // rotate, so no scenario always runs first
			var prof *os.File
			if o.CPUProf != "" && round == 0 {
				if prof, err = os.Create(o.CPUProf + "-" + s.Name + ".pprof"); err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(prof); err != nil {
					return err
				}
			}
			r, err := s.run(ctx)
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			results[s.Name] = append(results[s.Name], r)
			logf("round %d %-18s %8.0f /s  p99 %5.1f ms  errors %d", round+1, s.Name, r.RPS, r.P99ms, r.Errors)
		}
	}
	printHTTP(o, d, scenarios, results)
	return nil
}

// apiPath is the API list the loads ask for (the API's default page of 50).
const apiPath = "/api/v1/todos"

// pgbenchScript is the API list's transaction as pgbench sends it (simple protocol, so the
// variable in the schema name is substituted as text): the same statements the server sends
// for it, without the authentication.
func pgbenchScript(schema, set string) string {
	return set + `
BEGIN READ ONLY;
SET LOCAL search_path TO ` + schema + `;
SELECT id, title, done, created_by, created_at, updated_at, completed_at FROM todos
 WHERE (NULL::boolean IS NULL OR done = NULL::boolean) AND (NULL::bigint IS NULL OR id < NULL::bigint)
 ORDER BY id DESC LIMIT 51;
COMMIT;
`
}

// startServer starts `toodoo serve` (built from this tree) or, with InProcess, web.New in this
// process, and waits until it is ready.
func startServer(ctx context.Context, o httpOptions, tmp string, sv serverSpec, dbURL, addr string) (stop func(), err error) {
	if o.InProcess {
		db, err := tenancy.Open(ctx, dbURL)
		if err != nil {
			return nil, err
		}
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		srv, err := web.New(web.Config{BaseDomain: benchDomain, SessionKeys: [][]byte{[]byte(sessionKey)}, DirectDatabaseURL: dbURL}, db, logger)
		if err != nil {
			db.Close()
			return nil, err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			db.Close()
			return nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(sctx, ln) }()
		stop = func() {
			cancel()
			srv.EndDrain()
			<-done
			db.Close()
		}
		logf("server: in this process (web.New), pool %s", redact(dbURL))
		return stop, waitReady(ctx, "http://"+addr, nil)
	}
	bin, err := buildToodoo(ctx, tmp, sv.Name, sv.Rev)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"TOODOO_DIRECT_DATABASE_URL="+dbURL,
		"TOODOO_ADDR="+addr,
		"TOODOO_BASE_DOMAIN="+benchDomain,
		"TOODOO_SESSION_KEYS="+sessionKey,
		"TOODOO_SMTP_URL=smtp://127.0.0.1:9?tls=none", // nothing here sends mail
		"TOODOO_MAIL_FROM=bench <bench@example.com>",
		"TOODOO_SPARE_SCHEMAS=0",
		"TOODOO_DRAIN_DELAY=0s",
		"TOODOO_LOG_LEVEL=warn",
		"TOODOO_LOG_FORMAT=text",
	)
	cmd.Env = append(cmd.Env, sv.Env...)
	tail := &localproc.TailBuffer{Max: 8192}
	cmd.Stdout, cmd.Stderr = tail, tail // a client that hangs up at the end of a load logs an error per request
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	logf("server: toodoo serve on %s (pid %d), pool %s", addr, cmd.Process.Pid, redact(dbURL))
	if err := waitReady(ctx, "http://"+addr, done); err != nil {
		stop()
		return nil, fmt.Errorf("%w: %s", err, tail)
	}
	return stop, nil
}

// sessionKey is every server's TOODOO_SESSION_KEYS, so that one sign-in's cookie works on all.
var sessionKey = func() string {
	b := make([]byte, 36)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}()

// built remembers the binaries of a run by directory and revision.
var built = map[string]string{}

// buildToodoo builds cmd/toodoo from the working tree (rev ".") or from a git revision (its
// `git archive`, so the working tree is left alone) into dir.
func buildToodoo(ctx context.Context, dir, name, rev string) (string, error) {
	if bin, ok := built[dir+"\x00"+rev]; ok {
		return bin, nil
	}
	bin := filepath.Join(dir, "toodoo-"+name)
	defer func() { built[dir+"\x00"+rev] = bin }()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		return "", fmt.Errorf("go env GOMOD: not in the module (%v)", err)
	}
	src := filepath.Dir(strings.TrimSpace(string(out))) // the module's root, also from bench's tests
	if rev != "." {
		dst := filepath.Join(dir, "src-"+name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return "", err
		}
		archive := exec.CommandContext(ctx, "sh", "-c", `git archive "$1" | tar -x -C "$2"`, "sh", rev, dst)
		if out, err := archive.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git archive %s: %v: %s", rev, err, out)
		}
		src = dst
	}
	logf("go build %s (%s)", bin, rev)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/toodoo")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v: %s", rev, err, out)
	}
	return bin, nil
}

func waitReady(ctx context.Context, base string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		req.Host = benchDomain
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the server exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("the server did not get ready within 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signIn posts the login form on host and returns the session cookie ("name=value").
func signIn(ctx context.Context, base, host, email string) (string, error) {
	form := url.Values{"email": {email}, "password": {benchPassword}, "next": {"/"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Host = host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		return c.Name + "=" + c.Value, nil
	}
	body, _ := io.ReadAll(resp.Body)
	return "", fmt.Errorf("sign in on %s: status %d, no cookie: %.300s", host, resp.StatusCode, body)
}

// expect GETs path on host with one header and wants 200 with want in the body.
func expect(ctx context.Context, base, host, path, header, value, want string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	req.Host = host
	req.Header.Set(header, value)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s on %s: status %d, want 200 with %q: %.300s", path, host, resp.StatusCode, want, body)
	}
	return nil
}

// target is one tenant for wrk: its host and a token or a cookie.
type target struct{ Host, Token, Cookie string }

// writeLua writes a wrk script that sends each request to a random target (per-thread seeds).
// The targets go to a file beside the script (PATH.targets, one "host TAB header TAB value" per
// line) that each thread reads in init: a script holding them as a table constructor breaks
// silently in wrk's LuaJIT past some 65,000 entries (every request then went out without its
// Host and Authorization headers, and the 100,000-tenant run measured 404s). The script refuses
// to run if it did not read them all.
func writeLua(path string, targets []target, reqPath string) error {
	var b strings.Builder
	for _, t := range targets {
		name, value := "Authorization", "Bearer "+t.Token
		if t.Cookie != "" {
			name, value = "Cookie", t.Cookie
		}
		if strings.ContainsAny(t.Host+value, "\t\n") {
			return fmt.Errorf("bench: target %q: tab or newline in a header", t.Host)
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\n", t.Host, name, value)
	}
	if err := os.WriteFile(path+".targets", []byte(b.String()), 0o644); err != nil {
		return err
	}
	script := fmt.Sprintf(`local targets = {}
local n = 0
function setup(thread) n = n + 1; thread:set("id", n) end
function init(args)
  math.randomseed(os.time() * 31 + id * 7919)
  for line in io.lines(%q) do
    local host, name, value = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    targets[#targets + 1] = {["Host"] = host, [name] = value}
  end
  if #targets ~= %d then error("read " .. #targets .. " targets, want %d") end
end
function request()
  return wrk.format("GET", %q, targets[math.random(#targets)])
end
`, path+".targets", len(targets), len(targets), reqPath)
	return os.WriteFile(path, []byte(script), 0o644)
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99     = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	wrkErrors  = regexp.MustCompile(`(Non-2xx or 3xx responses|Socket errors):(.*)`)
	pgProgress = regexp.MustCompile(`progress: ([0-9.]+) s, ([0-9.]+) tps`)
)

func runWrk(ctx context.Context, o httpOptions, base, script string) (result, error) {
	out, err := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Conns),
		"-d", fmt.Sprintf("%ds", int(o.Duration.Seconds())), "--latency", "-s", script, base).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var r result
	// Failed answers (a 503 when the pool stays busy past pool_acquire_timeout on an overloaded
	// machine) are counted and shown, not fatal.
	for _, m := range wrkErrors.FindAllSubmatch(out, -1) {
		for _, f := range strings.FieldsFunc(string(m[2]), func(r rune) bool { return r < '0' || r > '9' }) {
			n, _ := strconv.Atoi(f)
			r.Errors += n
		}
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in %s", out)
	}
	r.RPS, _ = strconv.ParseFloat(string(m[1]), 64)
	if m := wrkP99.FindSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		switch string(m[2]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		r.P99ms = v
	}
	return r, nil
}

// pgbenchPreparedScript is the same transaction in pgbench's prepared mode: each statement is
// prepared once per connection and then only bound and executed, as pgx's statement cache does
// for the server, so the schema is set with set_config (a SET takes no parameter). It is the
// database's own price of spreading for prepared statements: a statement planned under one
// search_path is analysed and planned again when it runs under another, which the simple
// protocol pays on every execution, one tenant or many.
func pgbenchPreparedScript(tenant, set string) string {
	return set + `
BEGIN READ ONLY;
SELECT set_config('search_path', 'bench_' || ` + tenant + `, true);
SELECT id, title, done, created_by, created_at, updated_at, completed_at FROM todos
 WHERE (NULL::boolean IS NULL OR done = NULL::boolean) AND (NULL::bigint IS NULL OR id < NULL::bigint)
 ORDER BY id DESC LIMIT 51;
COMMIT;
`
}

// runPgbench runs pgbench (mode: simple or prepared) for the warm-up and then the duration, and returns the median of
// its per-second rates after the warm-up: every pgbench run opens new connections, whose
// backends first load the catalog entries of each schema they meet (16 connections over 1,000
// tenants: 16,000 loads, seconds of work), while the server's pool is warm after its first
// round. Both are compared warm.
func runPgbench(ctx context.Context, o httpOptions, dbURL, mode, script string) (result, error) {
	warm := int(o.PgWarmup.Seconds())
	out, err := exec.CommandContext(ctx, "pgbench", "-n", "-M", mode, "-c", strconv.Itoa(o.Conns), "-j", strconv.Itoa(o.Threads),
		"-T", strconv.Itoa(warm+int(o.Duration.Seconds())), "-P", "1", "-f", script, dbURL).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	var rates []float64
	for _, m := range pgProgress.FindAllSubmatch(out, -1) {
		at, _ := strconv.ParseFloat(string(m[1]), 64)
		tps, _ := strconv.ParseFloat(string(m[2]), 64)
		if at > float64(warm) {
			rates = append(rates, tps)
		}
	}
	if len(rates) == 0 {
		return result{}, fmt.Errorf("pgbench: no progress after the warm-up in %s", out)
	}
	return result{RPS: median(rates)}, nil
}

// psql runs one statement with psql (for VACUUM, which must be outside a transaction).
func psql(ctx context.Context, dbURL, sql string) (string, error) {
	out, err := exec.CommandContext(ctx, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, dbURL).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %v: %s", sql, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printHTTP(o httpOptions, d *database, scenarios []scenario, results map[string][]result) {
	fmt.Printf("\n# bench http, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("# %s; %d tenants x %d to-dos; wrk -t%d -c%d -d%s --latency; pgbench -M simple|prepared -c%d -j%d -T%d -P1 (median tps after %s of warm-up); %d alternating rounds, medians\n",
		d.What, o.Tenants, o.Todos, o.Threads, o.Conns, o.Duration, o.Conns, o.Threads, int((o.Duration + o.PgWarmup).Seconds()), o.PgWarmup, o.Rounds)
	fmt.Printf("%-18s %10s %9s  %s\n", "scenario", "req/s", "p99 ms", "runs (req/s)")
	med := map[string]float64{}
	for _, s := range scenarios {
		rs := results[s.Name]
		var rps, p99 []float64
		runs := []string{}
		errs := 0
		for _, r := range rs {
			errs += r.Errors
			rps = append(rps, r.RPS)
			p99 = append(p99, r.P99ms)
			runs = append(runs, strconv.FormatFloat(r.RPS, 'f', 0, 64))
		}
		med[s.Name] = median(rps)
		p := "-"
		if median(p99) > 0 {
			p = strconv.FormatFloat(median(p99), 'f', 1, 64)
		}
		e := ""
		if errs > 0 {
			e = fmt.Sprintf(" [%d failed answers]", errs)
		}
		fmt.Printf("%-18s %10.0f %9s  %s  (%s)%s\n", s.Name, med[s.Name], p, strings.Join(runs, " "), s.What, e)
	}
	// Ratios per round (noise hits a round's measurements alike), then their median.
	ratio := func(a, b string) (float64, bool) {
		ra, rb := results[a], results[b]
		if len(ra) == 0 || len(rb) == 0 {
			return 0, false
		}
		var v []float64
		for i := range min(len(ra), len(rb)) {
			v = append(v, ra[i].RPS/rb[i].RPS)
		}
		return median(v), true
	}
	pg, okPG := ratio("pg-spread", "pg")
	if okPG {
		fmt.Printf("\npgbench spread / one tenant:                   %5.0f%%\n", 100*pg)
	}
	pgp, okPGP := ratio("pgp-spread", "pgp")
	if okPGP {
		fmt.Printf("pgbench -M prepared spread / one tenant:       %5.0f%%\n", 100*pgp)
	}
	for _, sv := range o.Servers {
		suffix := ""
		if len(o.Servers) > 1 {
			suffix = "@" + sv.Name
			fmt.Printf("\n%s (%s%s%s):\n", sv.Name, sv.Rev, map[bool]string{true: "?" + sv.Params}[sv.Params != ""],
				map[bool]string{true: " " + strings.Join(sv.Env, " ")}[len(sv.Env) > 0])
		} else {
			fmt.Println()
		}
		if v, ok := ratio("api"+suffix, "pg"); ok {
			fmt.Printf("API / pgbench ceiling (one tenant):            %5.0f%%   (target >= 50%%)\n", 100*v)
		}
		if v, ok := ratio("page"+suffix, "pg"); ok {
			fmt.Printf("page / pgbench ceiling:                        %5.0f%%\n", 100*v)
		}
		if m, ok := med["page"+suffix]; ok {
			fmt.Printf("page / Django peer (%.0f req/s, the issue's):  %5.1fx   (target >= 10x, i.e. >= 3,200 req/s; p99 <= 10 ms)\n", djangoPeer, m/djangoPeer)
		}
		app, ok := ratio("api-spread"+suffix, "api"+suffix)
		if ok {
			fmt.Printf("API spread / one tenant:                       %5.0f%%\n", 100*app)
		}
		if ok && okPG {
			fmt.Printf("application's spread ratio / database's:       %5.0f%%   (target >= 95%%)\n", 100*app/pg)
		}
		if ok && okPGP {
			fmt.Printf("  ... / database's with prepared statements:   %5.0f%%\n", 100*app/pgp)
		}
	}
}

// pageWhat describes the page scenario: who is signed in matters, the menu lists their workspaces.
func pageWhat(o httpOptions) string {
	if o.PageOwner {
		return fmt.Sprintf("GET / signed in (session cookie), 20 to-dos, one tenant; the user is in all %d", o.Tenants)
	}
	return "GET / signed in (session cookie), 20 to-dos, one tenant; the user is a member of it only"
}
