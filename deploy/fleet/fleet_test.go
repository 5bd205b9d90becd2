package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/localproc"
	"github.com/toodoo/toodoo/internal/mailtest"
	"github.com/toodoo/toodoo/internal/testfactory"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// needBinaries skips the test when haproxy or pgbouncer is missing, or fails it when CI is set.
func needBinaries(t *testing.T) {
	t.Helper()
	for _, name := range []string{"haproxy", "pgbouncer"} {
		if _, err := localproc.LookBin(name); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal(err)
			}
			t.Skipf("%v (skipping; with CI set this fails)", err)
		}
	}
}

// buildToodoo builds the toodoo binary once into a temporary directory.
func buildToodoo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "toodoo")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/toodoo/toodoo/cmd/toodoo").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// response is what a request got: the status, the replica that answered (from the balancer's
// X-Toodoo-Replica; empty for direct requests), the body and any error.
type response struct {
	status  int
	replica string
	body    string
	cookies []*http.Cookie
	err     error
}

// client sends requests to an address with a chosen Host, without following redirects.
var client = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 8},
}

func send(ctx context.Context, method, addr, host, path string, form url.Values, cookies []*http.Cookie) response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		return response{err: err}
	}
	req.Host = host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, replica: resp.Header.Get("X-Toodoo-Replica"), body: string(b), cookies: resp.Cookies(), err: err}
}

// TestFleet drives two `toodoo serve` replicas through HAProxy and PgBouncer, as `go tool task
// fleet` runs them: sessions work on either replica, login limits are one budget for both, a
// suspension reaches both within the 5 s bound, and SIGTERM on one replica under load loses no
// request.
func TestFleet(t *testing.T) {
	needBinaries(t)
	ctx := t.Context()
	_, direct := dbtest.URLs(t)
	db := testfactory.DB(ctx, t, direct)
	accounts := account.New(db)
	first := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "first", Domain: "first.localhost"})
	second := testfactory.Tenant(ctx, t, db, &testfactory.TenantOpts{Name: "second", Domain: "second.localhost"})
	alice := testfactory.User(ctx, t, accounts, &testfactory.UserOpts{Email: "alice@example.com"})
	bob := testfactory.User(ctx, t, accounts, &testfactory.UserOpts{Email: "bob@example.com"})
	testfactory.Member(ctx, t, accounts, first, alice, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Member(ctx, t, accounts, second, alice, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Member(ctx, t, accounts, first, bob, nil)
	testfactory.Todo(ctx, t, db, first, &testfactory.TodoOpts{Title: "fleet to-do"})

	bin := buildToodoo(t)
	f, err := Start(ctx, Config{
		Toodoo:      bin,
		DatabaseURL: direct,
		SessionKeys: strings.Repeat("fleet-test-key-", 4),
		SMTPURL:     mailtest.Start(t).URL(),
		DrainDelay:  3 * time.Second, // HAProxy takes a replica out within about 1 s
		PoolSize:    4,
		Output:      t.Output(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	lb := strings.TrimPrefix(f.URL, "http://")
	r1, r2 := f.Replicas[0], f.Replicas[1]

	// The balancer sends requests to both replicas, in turn.
	seen := map[string]bool{}
	for i := 0; len(seen) < 2; i++ {
		res := send(ctx, http.MethodGet, lb, "first.localhost", "/login", nil, nil)
		if res.err != nil || res.status != http.StatusOK {
			t.Fatalf("GET /login through the balancer: %d %v", res.status, res.err)
		}
		seen[res.replica] = true
		if i == 20 {
			t.Fatalf("the balancer answered from %v only", seen)
		}
	}

	t.Run("SessionOnEitherReplica", func(t *testing.T) {
		res := send(ctx, http.MethodPost, lb, "first.localhost", "/login", url.Values{"email": {alice.Email}, "password": {testfactory.DefaultPassword}}, nil)
		if res.err != nil || res.status != http.StatusSeeOther || len(res.cookies) == 0 {
			t.Fatalf("sign in through the balancer: %d %v %v\n%.500s", res.status, res.err, res.cookies, res.body)
		}
		for _, r := range f.Replicas {
			page := send(ctx, http.MethodGet, r.Addr, "first.localhost", "/", nil, res.cookies)
			if page.err != nil || page.status != http.StatusOK || !strings.Contains(page.body, "fleet to-do") {
				t.Errorf("replica %s with the cookie signed in on %s: %d %v\n%.500s", r.Name, res.replica, page.status, page.err, page.body)
			}
			anon := send(ctx, http.MethodGet, r.Addr, "first.localhost", "/", nil, nil)
			if anon.status != http.StatusSeeOther {
				t.Errorf("replica %s without a cookie: %d, want a redirect to the login", r.Name, anon.status)
			}
		}
	})

	t.Run("LimitsShared", func(t *testing.T) {
		// Wrong passwords for bob from one address, spread by the balancer over both replicas,
		// spend one budget: the pair budget's burst, not a burst per replica.
		burst := account.DefaultLoginLimits.Pair.Burst
		wrong := url.Values{"email": {bob.Email}, "password": {"not bob's password"}}
		refusedBy := map[string]int{}
		limited := false
		for i := 0; i < 4*burst && !limited; i++ {
			res := send(ctx, http.MethodPost, lb, "first.localhost", "/login", wrong, nil)
			switch {
			case res.err != nil:
				t.Fatal(res.err)
			case res.status == http.StatusUnauthorized:
				refusedBy[res.replica]++
			case res.status == http.StatusTooManyRequests:
				limited = true
			default:
				t.Fatalf("wrong password: %d\n%.500s", res.status, res.body)
			}
		}
		total := refusedBy[r1.Name] + refusedBy[r2.Name]
		if !limited || refusedBy[r1.Name] == 0 || refusedBy[r2.Name] == 0 || total > burst+1 {
			t.Fatalf("password checks before 429: %v (limited: %t); want both replicas and at most %d in all", refusedBy, limited, burst+1)
		}
		// Either replica, asked directly from the same address, refuses bob's right password too.
		right := url.Values{"email": {bob.Email}, "password": {testfactory.DefaultPassword}}
		for _, r := range f.Replicas {
			if res := send(ctx, http.MethodPost, r.Addr, "first.localhost", "/login", right, nil); res.status != http.StatusTooManyRequests {
				t.Errorf("replica %s after the budget was spent: %d, want 429", r.Name, res.status)
			}
		}
	})

	t.Run("SuspensionOnBothWithin5s", func(t *testing.T) {
		for _, r := range f.Replicas {
			if res := send(ctx, http.MethodGet, r.Addr, "second.localhost", "/login", nil, nil); res.status != http.StatusOK {
				t.Fatalf("replica %s before the suspension: %d", r.Name, res.status)
			}
		}
		cmd := exec.CommandContext(ctx, bin, "tenant", "suspend", second.Schema)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+f.PooledURL)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("toodoo tenant suspend: %v\n%s", err, out)
		}
		deadline := time.Now().Add(5 * time.Second)
		for _, r := range f.Replicas {
			for {
				res := send(ctx, http.MethodGet, r.Addr, "second.localhost", "/login", nil, nil)
				if res.status == http.StatusForbidden && strings.Contains(res.body, "suspended") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica %s still answers %d for a workspace suspended 5 s ago", r.Name, res.status)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})

	t.Run("SIGTERMUnderLoadLosesNoRequest", func(t *testing.T) {
		login := send(ctx, http.MethodPost, lb, "first.localhost", "/login", url.Values{"email": {alice.Email}, "password": {testfactory.DefaultPassword}}, nil)
		if login.status != http.StatusSeeOther {
			t.Fatalf("sign in: %d", login.status)
		}
		// 4 workers through the balancer: reads, and a new to-do every fifth request.
		var (
			mu        sync.Mutex
			failures  []string
			servedBy  = map[string]int{}
			afterExit atomic.Int64 // responses after r1 exited
			total     atomic.Int64
			r1Gone    atomic.Bool
			stop      = make(chan struct{})
			wg        sync.WaitGroup
		)
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var res response
					if i%5 == 4 {
						res = send(ctx, http.MethodPost, lb, "first.localhost", "/todos", url.Values{"title": {fmt.Sprintf("load %d.%d", w, i)}}, login.cookies)
					} else {
						res = send(ctx, http.MethodGet, lb, "first.localhost", "/", nil, login.cookies)
					}
					mu.Lock()
					if res.err != nil || res.status < 200 || res.status >= 400 {
						failures = append(failures, fmt.Sprintf("%d %q %v", res.status, res.replica, res.err))
					}
					servedBy[res.replica]++
					mu.Unlock()
					total.Add(1)
					if r1Gone.Load() {
						afterExit.Add(1)
					}
				}
			})
		}
		waitFor := func(what string, cond func() bool) {
			for i := 0; !cond(); i++ {
				if i == 600 {
					close(stop)
					wg.Wait()
					t.Fatalf("waited 30 s for %s", what)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		waitFor("100 responses", func() bool { return total.Load() >= 100 })
		if err := r1.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := r1.Wait(30 * time.Second); err != nil {
			t.Errorf("replica %s after SIGTERM: %v", r1.Name, err)
		}
		r1Gone.Store(true)
		waitFor("100 responses after the replica exited", func() bool { return afterExit.Load() >= 100 })
		close(stop)
		wg.Wait()
		t.Logf("%d responses, by replica: %v", total.Load(), servedBy)
		if len(failures) > 0 {
			t.Fatalf("%d of %d requests failed (status, replica, error): %s", len(failures), total.Load(), strings.Join(failures[:min(len(failures), 20)], "; "))
		}
		if servedBy[r1.Name] == 0 || servedBy[r2.Name] == 0 {
			t.Fatalf("served by %v: want both replicas", servedBy)
		}
		// It left the balancer first: taken out because /readyz said 503 while it still
		// listened, not because its port was closed.
		if !strings.Contains(f.balancer.Log(), "Server toodoo/"+r1.Name+" is DOWN, reason: Layer7 wrong status, code: 503") {
			t.Errorf("HAProxy did not take %s out on its /readyz 503:\n%s", r1.Name, f.balancer.Log())
		}
		for _, want := range []string{`"msg":"draining`, `"msg":"stopped"`} {
			if !strings.Contains(r1.Log(), want) {
				t.Errorf("replica %s's log has no %s:\n%s", r1.Name, want, r1.Log())
			}
		}
	})

	t.Run("SecondSignalEndsDrain", func(t *testing.T) {
		// r2 drains for 3 s after one SIGTERM; a second one cuts that short.
		if err := r2.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for i := 0; !strings.Contains(r2.Log(), `"msg":"draining`); i++ {
			if i == 200 {
				t.Fatalf("replica %s does not drain:\n%s", r2.Name, r2.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := r2.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := r2.Wait(30 * time.Second); err != nil {
			t.Errorf("replica %s after two SIGTERMs: %v", r2.Name, err)
		}
		if !strings.Contains(r2.Log(), `"msg":"drain cut short"`) {
			t.Errorf("replica %s's drain was not cut short:\n%s", r2.Name, r2.Log())
		}
	})
}
