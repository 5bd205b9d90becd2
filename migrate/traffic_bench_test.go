package migrate_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/web"
)

// BenchmarkMigrateUnderTraffic measures what a migration costs the requests served meanwhile
// (issue 9, part 3), in one run: the server (web.New, in process behind httptest) under a
// spread load of the JSON API (workers for a fixed time, random tenants, 1 request in 5 a
// write, bearer tokens), p50/p99 before; then migrate.Run adding a column and an index to every
// tenant while the load goes on, p99 during it; failed requests; the migration's duration under
// load and then on the idle database (another column and index, same work); lock-timeout
// retries. It reports and never asserts timings (failed requests fail it).
//
// With TOODOO_BENCH_HOLD=1, one more tenant (not in the load) has its todos held by an open
// transaction during the migration under load, as in the measurement: the run must go
// on past it (retried, then reported locked); its lock timeouts add to the migration's duration.
//
//	TOODOO_BENCH_TENANTS   tenants (default 200; the figure is 1000)
//	TOODOO_BENCH_WORKERS   concurrent clients (default 8)
//	TOODOO_BENCH_PARALLEL  the migrator's --parallel (default 0: the number of CPUs)
//	TOODOO_BENCH_SECONDS   length of the load before the migration (default 5)
//	TOODOO_BENCH_HOLD      1: hold a lock on one more tenant during the migration under load
//	TOODOO_BENCH_CLI       1: run `toodoo migrate` as a process of its own (as operators do)
//	                       instead of migrate.Run in this process, whose goroutines otherwise
//	                       queue for the same two Ps as the server's and the load's
//	TOODOO_BENCH_LOAD      open-loop load as a percentage of the capacity measured first (e.g.
//	                       50): requests leave on a fixed schedule, whatever the answers, and
//	                       their latency counts from when they were due (no coordinated
//	                       omission). Default 0: closed loop, the workers as fast as they can,
//	                       which saturates the CPUs (on 2 cores the migration then gets a third
//	                       of the machine, however light it is).
//
//	go tool task bench:migrate-traffic
func BenchmarkMigrateUnderTraffic(b *testing.B) {
	n := envInt(b, "TOODOO_BENCH_TENANTS", 200)
	workers := envInt(b, "TOODOO_BENCH_WORKERS", 8)
	parallel := envInt(b, "TOODOO_BENCH_PARALLEL", 0)
	before := time.Duration(envInt(b, "TOODOO_BENCH_SECONDS", 5)) * time.Second
	hold := os.Getenv("TOODOO_BENCH_HOLD") == "1"
	loadPct := 0
	if os.Getenv("TOODOO_BENCH_LOAD") != "" {
		loadPct = envInt(b, "TOODOO_BENCH_LOAD", 0)
	}
	ctx := b.Context()
	url := dbtest.URL(b)
	db := testfactory.DB(ctx, b, url)

	names := tenantNames("load", n)
	opts := make([]*testfactory.TenantOpts, n)
	for i, name := range names {
		opts[i] = &testfactory.TenantOpts{Cold: true, Name: name}
	}
	if hold {
		opts = append(opts, &testfactory.TenantOpts{Cold: true, Name: "held"})
	}
	tenants := testfactory.Tenants(ctx, b, db, opts...)[:n]
	run(b, url, schemadef.MustDefault(), migrate.Options{})
	accounts := account.New(db)
	owner := testfactory.User(ctx, b, accounts, nil)
	targets := make([]target, n)
	for i, tn := range tenants {
		testfactory.Member(ctx, b, accounts, tn, owner, &testfactory.MemberOpts{Role: account.RoleOwner})
		_, secret, err := accounts.CreateAPIToken(ctx, tn.ID, owner.ID, "bench")
		if err != nil {
			b.Fatal(err)
		}
		targets[i] = target{host: tn.Schema + ".example.test", token: secret}
	}
	srv, err := web.New(web.Config{BaseDomain: "example.test", Dev: true}, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	client := ts.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = workers

	cli := ""
	if os.Getenv("TOODOO_BENCH_CLI") == "1" {
		cli = filepath.Join(b.TempDir(), "toodoo")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", cli, "github.com/toodoo/toodoo/cmd/toodoo").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v: %s", err, out)
		}
	}
	var cols int // columns added so far: each migration adds the next one, with its index
	// migrateOnce adds the next column and index to every tenant; locked: "held" is locked.
	migrateOnce := func(locked bool) (time.Duration, *migrate.Summary) {
		cols++
		def := withIndexedColumns(b, cols)
		start := time.Now()
		var (
			sum *migrate.Summary
			err error
		)
		if cli != "" {
			sum, err = migrateCLI(ctx, b, cli, url, def, parallel)
		} else {
			sum, err = migrate.Run(ctx, url, def, migrate.Options{Parallel: parallel}, nil)
		}
		elapsed := time.Since(start)
		switch {
		case locked && (!errors.Is(err, migrate.ErrIncomplete) || sum.Failed != 1 || sum.LockGaveUp != 1):
			b.Fatalf("migrate with a tenant locked: %v, %d failed, %d gave up on a lock; want 1 and 1", err, sum.Failed, sum.LockGaveUp)
		case !locked && err != nil:
			b.Fatalf("migrate: %v (failures %v)", err, sum.Failures)
		}
		if want := len(opts) - sum.Failed; sum.Applied != want {
			b.Fatalf("migrate applied %d schemas, want %d", sum.Applied, want)
		}
		return elapsed, sum
	}

	for b.Loop() {
		l := &loader{client: client, base: ts.URL, targets: targets}
		// Warm up (connections, plans, a few rows per tenant), then measure.
		l.run(ctx, workers, min(before, 2*time.Second), nil)
		l.reset()
		start := time.Now()
		l.run(ctx, workers, before, nil)
		p50Before, p99Before, okBefore, failedBefore := l.stats()
		if loadPct > 0 {
			// The closed loop measured the capacity; from now on the load is that fraction of it.
			l.rate = float64(okBefore) / time.Since(start).Seconds() * float64(loadPct) / 100
			l.reset()
			l.run(ctx, workers, before, nil)
			p50Before, p99Before, okBefore, failedBefore = l.stats()
			b.Logf("open loop: %.0f req/s (%d%% of the closed loop's %.0f)", l.rate, loadPct, l.rate*100/float64(loadPct))
		}

		l.reset()
		var (
			during time.Duration
			sum    *migrate.Summary
		)
		l.run(ctx, workers, 0, func() {
			if hold {
				defer holdTable(b, url, "held")()
			}
			during, sum = migrateOnce(hold)
		})
		_, p99During, okDuring, failedDuring := l.stats()

		idle, _ := migrateOnce(false)

		failed := failedBefore + failedDuring
		b.ReportMetric(p50Before, "p50-before-ms")
		b.ReportMetric(p99Before, "p99-before-ms")
		b.ReportMetric(p99During, "p99-during-ms")
		b.ReportMetric(during.Seconds(), "migrate-load-s")
		b.ReportMetric(idle.Seconds(), "migrate-idle-s")
		b.ReportMetric(float64(failed), "failed-requests")
		b.ReportMetric(float64(sum.LockRetries), "lock-retries")
		b.Logf("%d tenants, %d workers: before p50 %.1f ms p99 %.1f ms (%d requests); during migrate p99 %.1f ms (%d requests, %.1fx); "+
			"migrate %s under load vs %s idle (%.2fx); %d failed requests; lock timeouts: %d retried, %d gave up",
			n, workers, p50Before, p99Before, okBefore, p99During, okDuring, p99During/p99Before,
			during.Round(time.Millisecond), idle.Round(time.Millisecond), during.Seconds()/idle.Seconds(), failed, sum.LockRetries, sum.LockGaveUp)
		if failed > 0 {
			b.Errorf("%d requests failed (%s)", failed, l.firstFailure())
		}
	}
}

type target struct{ host, token string }

// migrateCLI runs `toodoo migrate --schema FILE` (def's schema.hcl) on url and reads its
// summary's counts back.
func migrateCLI(ctx context.Context, tb testing.TB, bin, url string, def *schemadef.Definition, parallel int) (*migrate.Summary, error) {
	file := filepath.Join(tb.TempDir(), "schema.hcl")
	if err := os.WriteFile(file, def.HCL(), 0o644); err != nil {
		tb.Fatal(err)
	}
	args := []string{"migrate", "--schema", file}
	if parallel > 0 {
		args = append(args, "--parallel", strconv.Itoa(parallel))
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	out, runErr := cmd.CombinedOutput()
	sum := &migrate.Summary{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch f[0] {
		case "applied":
			sum.Applied = n
		case "failed":
			sum.Failed = n
		}
	}
	if m := regexp.MustCompile(`lock timeouts: (\d+) retried`).FindSubmatch(out); m != nil {
		sum.LockRetries, _ = strconv.Atoi(string(m[1]))
	}
	if runErr != nil {
		if sum.Failed > 0 {
			sum.LockGaveUp = sum.Failed // the only failure the benchmark provokes
			return sum, fmt.Errorf("%w: %s", migrate.ErrIncomplete, out)
		}
		return sum, fmt.Errorf("toodoo migrate: %v: %s", runErr, out)
	}
	return sum, nil
}

// openLoopClients bounds the requests in flight in the open loop.
const openLoopClients = 64

// loader drives the JSON API: each request goes to a random tenant, one in five creates a to-do,
// the others list them.
type loader struct {
	client  *http.Client
	base    string
	targets []target
	rate    float64 // requests per second on a fixed schedule (open loop); 0: closed loop

	mu        sync.Mutex
	latencies []time.Duration
	failed    int
	first     string
}

func (l *loader) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latencies, l.failed, l.first = nil, 0, ""
}

// run runs workers clients for d, or, if during is set, for as long as during runs (started
// once the clients are).
func (l *loader) run(ctx context.Context, workers int, d time.Duration, during func()) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var seq atomic.Int64
	// In the open loop a dispatcher sends each request's due time; up to openLoopClients are
	// in flight (a queue forms beyond, and counts in the latencies).
	var due chan time.Time
	if l.rate > 0 {
		workers = openLoopClients
		due = make(chan time.Time, 1<<16)
		wg.Go(func() {
			defer close(due)
			interval := time.Duration(float64(time.Second) / l.rate)
			next := time.Now()
			for ctx.Err() == nil {
				for now := time.Now(); !next.After(now); next = next.Add(interval) {
					due <- next
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Until(next)):
				}
			}
		})
	}
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			if due != nil {
				for at := range due {
					if ctx.Err() != nil {
						continue // drain
					}
					l.one(ctx, seq.Add(1))
					mine = append(mine, time.Since(at)) // from when it was due
				}
			} else {
				for ctx.Err() == nil {
					mine = append(mine, l.one(ctx, seq.Add(1)))
				}
			}
			l.mu.Lock()
			l.latencies = append(l.latencies, mine...)
			l.mu.Unlock()
		})
	}
	if during != nil {
		during()
	} else {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	stop()
	wg.Wait()
}

// one sends one request and returns its latency; a failure is counted (a request cut short by
// the end of the phase is not).
func (l *loader) one(ctx context.Context, i int64) time.Duration {
	t := l.targets[rand.IntN(len(l.targets))]
	method, path, body, want := http.MethodGet, "/api/v1/todos?limit=20", "", http.StatusOK
	if i%5 == 0 {
		method, path, body, want = http.MethodPost, "/api/v1/todos", fmt.Sprintf(`{"title": "load %d"}`, i), http.StatusCreated
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Host = t.host
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := l.client.Do(req)
	var status int
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return elapsed // the phase ended meanwhile
	}
	if err != nil || status != want {
		l.mu.Lock()
		l.failed++
		if l.first == "" {
			l.first = fmt.Sprintf("%s %s on %s: status %d, error %v", method, path, t.host, status, err)
		}
		l.mu.Unlock()
	}
	return elapsed
}

// stats returns the p50 and p99 latencies in milliseconds, the requests and the failures.
func (l *loader) stats() (p50, p99 float64, requests, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.latencies) == 0 {
		return 0, 0, 0, l.failed
	}
	s := slices.Clone(l.latencies)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000 }
	return at(0.50), at(0.99), len(s), l.failed
}

func (l *loader) firstFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// withIndexedColumns is schema.hcl with k extra nullable columns traffic_1..traffic_k in todos,
// each with an index.
func withIndexedColumns(tb testing.TB, k int) *schemadef.Definition {
	tb.Helper()
	var blocks strings.Builder
	for j := 1; j <= k; j++ {
		fmt.Fprintf(&blocks, "  column \"traffic_%d\" {\n    type = integer\n    null = true\n  }\n", j)
	}
	for j := 1; j <= k; j++ {
		fmt.Fprintf(&blocks, "  index \"todos_traffic_%d_idx\" {\n    columns = [column.traffic_%d]\n  }\n", j, j)
	}
	return withBlocks(tb, blocks.String())
}

// envInt reads a positive integer knob, or returns def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return cmp.Or(v, def)
}
