package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/tenancy"
)

// fleetOptions are bench fleet's knobs, read from the environment.
type fleetOptions struct {
	Tenants  int           // BENCH_TENANTS (Taskfile: N=): the fleet's size (default 1000)
	Par      int           // BENCH_CREATE_PAR: tenants created at once (default 2, as the two CLIs)
	Rounds   int           // BENCH_ROUNDS: runs of each quick command, alternating (default 5)
	Traffic  time.Duration // BENCH_DURATION: spread traffic per server for the backend memory (default 20s)
	Conns    int           // BENCH_CONNS: wrk connections (default 16)
	Port     int           // BENCH_PORT: first server port (default 18801)
	NoServer bool          // BENCH_NO_SERVER=1: skip RSS and backend memory
	// Add lists the add-a-column runs (BENCH_ADD, comma-separated REV[:PARALLEL], default ".":
	// the working tree, the CLI's default --parallel); each adds one more column, with the
	// toodoo built from REV (a git revision, or "." for the working tree), so that builds
	// alternate on the same fleet: "5f2d101,.,5f2d101,.".
	Add []addSpec
}

// addSpec is one add-a-column run of BENCH_ADD.
type addSpec struct {
	Rev      string
	Parallel int // 0: the CLI's default
}

func fleetOptionsFromEnv() fleetOptions {
	o := fleetOptions{
		Tenants:  envInt("BENCH_TENANTS", 1000),
		Par:      envInt("BENCH_CREATE_PAR", 2),
		Rounds:   envInt("BENCH_ROUNDS", 5),
		Traffic:  envDuration("BENCH_DURATION", 20*time.Second),
		Conns:    envInt("BENCH_CONNS", 16),
		Port:     envInt("BENCH_PORT", 18801),
		NoServer: os.Getenv("BENCH_NO_SERVER") == "1",
	}
	for _, f := range strings.Split(cmp.Or(os.Getenv("BENCH_ADD"), "."), ",") {
		rev, par, _ := strings.Cut(strings.TrimSpace(f), ":")
		n, _ := strconv.Atoi(par)
		o.Add = append(o.Add, addSpec{Rev: cmp.Or(rev, "."), Parallel: max(n, 0)})
	}
	return o
}

// fleetResult is what bench fleet measured; medians in milliseconds unless named otherwise.
type fleetResult struct {
	CreateTotal                 time.Duration
	CreateFirstMs, CreateLastMs float64 // p50 of the first and the last 200 creations
	CLICreateMs                 float64
	NoopMs, StatusMs, ListMs    float64
	VerifyMs, AddColumnMs       float64
	AddColumn                   []addColumnRun
	ServerRSSMiB                float64 // toodoo serve with every domain loaded, before traffic
	ServerRSSAfterMiB           float64 // after the spread traffic
	Backend                     map[string]backendMem
	CatalogMiB                  float64
}

// addColumnRun is one add-a-column run and its wall time.
type addColumnRun struct {
	addSpec
	Ms float64
}

// backendMem is the private memory (RssAnon) of the server's PostgreSQL backends.
type backendMem struct {
	MaxMiB, SumMiB float64
	Backends       int
	Requests       float64 // req/s during the traffic
	Errors         int     // non-2xx answers and socket errors among them (wrk counts them in req/s)
}

func runFleet(ctx context.Context, o fleetOptions) error {
	r, d, err := fleet(ctx, o)
	if err != nil {
		return err
	}
	printFleet(o, d, r)
	d.Close()
	return nil
}

// fleet builds the fleet and measures it; the caller closes the database.
func fleet(ctx context.Context, o fleetOptions) (*fleetResult, *database, error) {
	logf("bench fleet: %d tenants, %d at a time; %d rounds of each command", o.Tenants, o.Par, o.Rounds)
	d, err := openDatabase(ctx, logf)
	if err != nil {
		return nil, nil, err
	}
	r, err := measureFleet(ctx, o, d)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return r, d, nil
}

func measureFleet(ctx context.Context, o fleetOptions, d *database) (*fleetResult, error) {
	r := &fleetResult{Backend: map[string]backendMem{}}
	if err := migratePublic(ctx, d.URL); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "toodoo-bench-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin, err := buildToodoo(ctx, tmp, "fleet", ".")
	if err != nil {
		return nil, err
	}

	// Creation: tenancy.Create (what `toodoo tenant create` runs), Par at a time, each with an
	// owner, a token and two to-dos for the traffic later.
	db, err := tenancy.Open(ctx, d.URL)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	took := make([]float64, o.Tenants+1)
	start := time.Now()
	tokens, err := seedTenants(ctx, db, 1, o.Tenants, o.Par, true, 2, func(i int, d time.Duration) {
		mu.Lock()
		took[i] = float64(d.Microseconds()) / 1000
		mu.Unlock()
		if i%1000 == 0 {
			logf("created %d tenants", i)
		}
	})
	db.Close()
	if err != nil {
		return nil, err
	}
	r.CreateTotal = time.Since(start)
	k := min(200, o.Tenants)
	r.CreateFirstMs, r.CreateLastMs = median(took[1:1+k]), median(took[o.Tenants+1-k:])
	logf("created %d tenants in %s (p50 first %d: %.1f ms, last %d: %.1f ms)", o.Tenants, r.CreateTotal.Round(time.Millisecond), k, r.CreateFirstMs, k, r.CreateLastMs)
	if _, err := psql(ctx, d.URL, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}

	env := append(os.Environ(), "DATABASE_URL="+d.URL, "TOODOO_BASE_DOMAIN="+benchDomain)
	cliWith := func(bin string, args ...string) (time.Duration, []byte, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		el := time.Since(start)
		if err != nil {
			return el, out.Bytes(), fmt.Errorf("toodoo %s: %v: %s", strings.Join(args, " "), err, lastLines(out.Bytes(), 5))
		}
		return el, out.Bytes(), nil
	}
	cli := func(args ...string) (time.Duration, []byte, error) { return cliWith(bin, args...) }
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

	// The quick commands, in alternating rounds, with the schema.hcl built in (what an operator
	// runs: --schema FILE would evaluate FILE in every process, a development path).
	var noop, status, list, verify, create []float64
	for round := range o.Rounds {
		steps := []struct {
			into *[]float64
			args []string
		}{
			{&noop, []string{"migrate"}},
			{&status, []string{"migrate", "status"}},
			{&list, []string{"tenant", "list", "--json"}},
			{&verify, []string{"migrate", "--verify"}},
		}
		for _, s := range steps {
			el, out, err := cli(s.args...)
			if err != nil {
				return nil, err
			}
			*s.into = append(*s.into, ms(el))
			if round == 0 {
				logf("toodoo %s: %s; %s", strings.Join(s.args, " "), el.Round(time.Millisecond), lastLines(out, 1))
			}
		}
		// One more tenant through the CLI (process start, connect, create at this size).
		name := fmt.Sprintf("cli_%d", round+1)
		el, _, err := cli("tenant", "create", "--domain", strings.ReplaceAll(name, "_", "-")+"."+benchDomain, name)
		if err != nil {
			return nil, err
		}
		create = append(create, ms(el))
	}
	r.NoopMs, r.StatusMs, r.ListMs, r.VerifyMs, r.CLICreateMs = median(noop), median(status), median(list), median(verify), median(create)
	if s, err := psql(ctx, d.URL, "SELECT pg_database_size(current_database())"); err == nil {
		n, _ := strconv.ParseFloat(s, 64)
		r.CatalogMiB = n / (1 << 20)
	}
	if !o.NoServer {
		if err := measureServers(ctx, o, d, bin, tokens, tmp, r); err != nil {
			return nil, err
		}
	}
	// Last (the servers' schema gate would refuse tenants ahead of their schema.hcl), add a nullable column to every tenant (the new schema.hcl given with --schema), once
	// per --parallel of BENCH_ADD_PARALLEL, each adding one more column.
	for k, a := range o.Add {
		hcl := filepath.Join(tmp, fmt.Sprintf("schema-%d.hcl", k+1))
		if err := os.WriteFile(hcl, withBenchColumns(k+1), 0o644); err != nil {
			return nil, err
		}
		args := []string{"migrate", "--schema", hcl}
		if a.Parallel > 0 {
			args = append(args, "--parallel", strconv.Itoa(a.Parallel))
		}
		addBin, err := buildToodoo(ctx, tmp, fmt.Sprintf("add-%d", k+1), a.Rev)
		if err != nil {
			return nil, err
		}
		el, out, err := cliWith(addBin, args...)
		if err != nil {
			return nil, err
		}
		if k == 0 {
			r.AddColumnMs = ms(el)
		}
		r.AddColumn = append(r.AddColumn, addColumnRun{addSpec: a, Ms: ms(el)})
		logf("toodoo (%s) migrate --parallel %d (add a column to %d tenants): %s; %s", a.Rev, a.Parallel, o.Tenants, el.Round(time.Millisecond), lastLines(out, 1))
	}

	return r, nil
}

// measureServers measures toodoo serve with every domain loaded and the backends under spread
// traffic.
func measureServers(ctx context.Context, o fleetOptions, d *database, bin string, tokens []string, tmp string, r *fleetResult) error {

	// The server: RSS with every domain in its host map, then the backends' memory under
	// traffic spread over every tenant, with the default pool_max_conn_schemas and without a
	// limit (two servers, one after the other, each with its own application_name).
	lua := filepath.Join(tmp, "spread.lua")
	all := make([]target, len(tokens))
	for i, tok := range tokens {
		all[i] = target{tenantHost(i + 1), tok, ""}
	}
	if err := writeLua(lua, all, apiPath); err != nil {
		return err
	}
	for i, sv := range []struct{ name, params string }{
		{"pool_max_conn_schemas=1000 (default)", ""},
		{"pool_max_conn_schemas=0 (no limit)", "&pool_max_conn_schemas=0"},
	} {
		app := fmt.Sprintf("toodoo-bench-%d", i)
		url := d.withParams("application_name", app) + sv.params
		addr := fmt.Sprintf("127.0.0.1:%d", o.Port+i)
		stop, pid, err := startServe(ctx, bin, url, addr)
		if err != nil {
			return err
		}
		base := "http://" + addr
		if err := expect(ctx, base, tenantHost(o.Tenants), apiPath, "Authorization", "Bearer "+tokens[o.Tenants-1], `"todos":[{`); err != nil {
			stop()
			return err
		}
		if i == 0 {
			r.ServerRSSMiB = procMiB(pid, "VmRSS")
		}
		res, err := runWrk(ctx, httpOptions{Threads: 2, Conns: o.Conns, Duration: o.Traffic}, base, lua)
		if err != nil {
			stop()
			return err
		}
		bm, err := backendMemory(ctx, d.URL, app)
		if err != nil {
			stop()
			return err
		}
		bm.Requests, bm.Errors = res.RPS, res.Errors
		r.Backend[sv.name] = bm
		if i == 0 {
			r.ServerRSSAfterMiB = procMiB(pid, "VmRSS")
		}
		logf("server %s: %.0f req/s spread over %d tenants (%d errors); backends: max %.1f MiB, sum %.1f MiB over %d", sv.name, res.RPS, o.Tenants, res.Errors, bm.MaxMiB, bm.SumMiB, bm.Backends)
		stop()
	}
	return nil
}

// startServe starts `toodoo serve` on url and waits until it is ready.
func startServe(ctx context.Context, bin, url, addr string) (stop func(), pid int, err error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+url,
		"TOODOO_ADDR="+addr,
		"TOODOO_BASE_DOMAIN="+benchDomain,
		"TOODOO_SESSION_KEYS=bench-session-key-bench-session-key-0123456789",
		"TOODOO_SMTP_URL=smtp://127.0.0.1:9?tls=none",
		"TOODOO_MAIL_FROM=bench <bench@example.com>",
		"TOODOO_SPARE_SCHEMAS=0",
		"TOODOO_DRAIN_DELAY=0s",
		"TOODOO_LOG_LEVEL=error",
	)
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	if err := waitReady(ctx, "http://"+addr, done); err != nil {
		stop()
		return nil, 0, err
	}
	return stop, cmd.Process.Pid, nil
}

// backendMemory sums the private memory of the backends whose application_name is app (their
// catalog and plan caches live there; shared buffers do not count).
func backendMemory(ctx context.Context, url, app string) (backendMem, error) {
	out, err := psql(ctx, url, "SELECT pid FROM pg_stat_activity WHERE application_name = '"+app+"'")
	if err != nil {
		return backendMem{}, err
	}
	var m backendMem
	for _, line := range strings.Fields(out) {
		pid, err := strconv.Atoi(line)
		if err != nil {
			continue
		}
		v := procMiB(pid, "RssAnon")
		m.Backends++
		m.SumMiB += v
		m.MaxMiB = max(m.MaxMiB, v)
	}
	return m, nil
}

// procMiB reads a "kB" field of /proc/PID/status, in MiB (0 if it cannot).
func procMiB(pid int, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// withBenchColumns is schema.hcl with k more nullable columns in todos.
func withBenchColumns(k int) []byte {
	const anchor = `  column "completed_at" {`
	var cols strings.Builder
	for j := 1; j <= k; j++ {
		fmt.Fprintf(&cols, "  column \"bench_fleet_%d\" {\n    type = integer\n    null = true\n  }\n", j)
	}
	return bytes.Replace(toodoo.SchemaHCL, []byte(anchor), []byte(cols.String()+anchor), 1)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

func printFleet(o fleetOptions, d *database, r *fleetResult) {
	fmt.Printf("\n# bench fleet, %s: %d tenants; %s; CLI commands timed as processes (start included), medians of %d alternating rounds\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), o.Tenants, d.What, o.Rounds)
	row := func(what string, v float64, unit, target string) {
		fmt.Printf("%-58s %10.1f %-4s %s\n", what, v, unit, target)
	}
	row(fmt.Sprintf("create %d tenants, %d at a time (tenancy.Create), total", o.Tenants, o.Par), r.CreateTotal.Seconds(), "s", "")
	row(fmt.Sprintf("  p50 of the first %d creations", min(200, o.Tenants)), r.CreateFirstMs, "ms", "")
	row(fmt.Sprintf("  p50 of the last %d creations", min(200, o.Tenants)), r.CreateLastMs, "ms", "(flat)")
	row("toodoo tenant create (one more, process)", r.CLICreateMs, "ms", "")
	row("toodoo migrate, nothing due", r.NoopMs, "ms", "(target <= 50 ms)")
	row("toodoo migrate status", r.StatusMs, "ms", "(target <= 100 ms)")
	row("toodoo tenant list --json", r.ListMs, "ms", "(target <= 300 ms)")
	for _, a := range r.AddColumn {
		par := "default"
		if a.Parallel > 0 {
			par = strconv.Itoa(a.Parallel)
		}
		row(fmt.Sprintf("toodoo migrate, add a nullable column to every tenant (%s, --parallel %s)", a.Rev, par), a.Ms/1000, "s", "(target <= 8 s at 10k)")
	}
	row("toodoo migrate --verify", r.VerifyMs/1000, "s", "(target <= 5 s at 10k)")
	row("database size", r.CatalogMiB, "MiB", "")
	if !o.NoServer {
		row("toodoo serve RSS, every domain loaded", r.ServerRSSMiB, "MiB", "(target <= 64 MiB)")
		row("toodoo serve RSS after the spread traffic", r.ServerRSSAfterMiB, "MiB", "")
		for _, name := range slices.Sorted(maps.Keys(r.Backend)) {
			b := r.Backend[name]
			row(fmt.Sprintf("backends' private memory after %s of spread traffic, max (%s)", o.Traffic, name), b.MaxMiB, "MiB", fmt.Sprintf("sum %.1f MiB over %d backends; %.0f req/s, %d errors", b.SumMiB, b.Backends, b.Requests, b.Errors))
		}
	}
}
