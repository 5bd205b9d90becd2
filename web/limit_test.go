package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
)

// limits sets the sign-in budgets for a test: per client address, per (account, client) pair
// and per account, each a burst that does not refill within the test.
func limits(client, pair, acct int) func(*Config) {
	return func(c *Config) {
		c.LoginLimits = account.LoginLimits{
			Client:  account.Limit{Burst: client, Every: time.Hour},
			Pair:    account.Limit{Burst: pair, Every: time.Hour},
			Account: account.Limit{Burst: acct, Every: time.Hour},
		}
	}
}

// from is a visitor of host on srv at the client address addr.
func from(t *testing.T, srv *Server, host, addr string) *browser {
	return &browser{t: t, srv: srv, host: host, addr: addr + ":4321"}
}

// tally sends the requests at once and counts the answers by status.
func tally(t *testing.T, n int, send func(i int) int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			code := send(i)
			mu.Lock()
			got[code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	for code := range got {
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Errorf("answers %v: want only 401 and 429", got)
		}
	}
	return got
}

// TestLoginLimitManyAddressesAtOnce (finding 2): 40 wrong passwords for one account sent at once
// from 40 addresses: no more are checked than the account's budget, the rest get 429.
func TestLoginLimitManyAddressesAtOnce(t *testing.T) {
	t.Parallel()
	const budget = 10
	b := setup(t, limits(100, 5, budget))
	got := tally(t, 40, func(i int) int {
		br := from(t, b.srv, firstHost, fmt.Sprintf("198.51.100.%d", i+1))
		return br.post("/login", "email", b.alice.Email, "password", "wrong password").Code
	})
	if got[http.StatusUnauthorized] > budget || got[http.StatusUnauthorized] == 0 {
		t.Errorf("%d of 40 passwords were checked (answers %v); want between 1 and the budget of %d", got[http.StatusUnauthorized], got, budget)
	}
}

// TestLoginLimitOneAddressAtOnce (finding 2): 20 wrong passwords for one account sent at once
// from one address: no more are checked than the pair's budget.
func TestLoginLimitOneAddressAtOnce(t *testing.T) {
	t.Parallel()
	const budget = 5
	b := setup(t, limits(100, budget, budget))
	got := tally(t, 20, func(int) int {
		return from(t, b.srv, firstHost, "198.51.100.7").post("/login", "email", b.alice.Email, "password", "wrong password").Code
	})
	if got[http.StatusUnauthorized] > budget || got[http.StatusUnauthorized] == 0 {
		t.Errorf("%d of 20 passwords were checked (answers %v); want between 1 and the budget of %d", got[http.StatusUnauthorized], got, budget)
	}
}

// TestLoginLimitSharedByProcesses: two servers on one database (two processes, two replicas)
// spend one budget, whichever of them an attempt reaches.
func TestLoginLimitSharedByProcesses(t *testing.T) {
	t.Parallel()
	const budget = 4
	b := setup(t, limits(100, budget, budget))
	other := b.newServer(limits(100, budget, budget)) // a second process on the same database
	checked := 0
	for i := range 2 * budget {
		srv := b.srv
		if i%2 == 1 {
			srv = other
		}
		rec := from(t, srv, firstHost, "198.51.100.9").post("/login", "email", b.alice.Email, "password", "wrong password")
		switch rec.Code {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			if rec.Header().Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("attempt %d: status %d", i+1, rec.Code)
		}
	}
	if checked != budget {
		t.Errorf("%d passwords were checked by two servers; want the one budget of %d", checked, budget)
	}
}

// TestLoginLimitOwnerNotLockedOut (finding 5): a stranger's wrong passwords from other addresses
// are throttled, and the account's owner still signs in from their own address (one they have
// signed in from before). Only an address the account does not know waits for the account's
// budget, which the stranger has spent.
func TestLoginLimitOwnerNotLockedOut(t *testing.T) {
	t.Parallel()
	const pair, acct = 3, 8
	b := setup(t, limits(100, pair, acct))
	owner := from(t, b.srv, firstHost, "203.0.113.5")
	owner.login(b.alice.Email)
	wantRedirect(t, owner.post("/logout"), "/login")

	// The stranger, from four addresses, five tries each, all at once: throttled.
	got := tally(t, 20, func(i int) int {
		stranger := from(t, b.srv, firstHost, fmt.Sprintf("198.51.100.%d", 50+i%4))
		return stranger.post("/login", "email", b.alice.Email, "password", "wrong password").Code
	})
	if got[http.StatusTooManyRequests] == 0 || got[http.StatusUnauthorized] > acct {
		t.Fatalf("the stranger's answers %v: want at most %d checked, the rest 429", got, acct)
	}
	// The owner, from their own address, with the right password, gets in.
	wantRedirect(t, owner.post("/login", "email", b.alice.Email, "password", testPassword), "/")
	wantStatus(t, owner.get("/"), http.StatusOK)
	// The stranger is still throttled, and so is an address the account does not know.
	wantStatus(t, from(t, b.srv, firstHost, "198.51.100.50").post("/login", "email", b.alice.Email, "password", "wrong password"), http.StatusTooManyRequests)
	wantStatus(t, from(t, b.srv, firstHost, "198.51.100.99").post("/login", "email", b.alice.Email, "password", testPassword), http.StatusTooManyRequests)
}

// chunked sends body with Transfer-Encoding: chunked (no Content-Length), as br would.
func (br *browser) chunked(method, path, contentType, body string, header http.Header) *httptest.ResponseRecorder {
	br.t.Helper()
	h := http.Header{"Content-Type": {contentType}, "Sec-Fetch-Site": {"same-origin"}}
	for k, v := range header {
		h[k] = v
	}
	req := httptest.NewRequest(method, "http://"+br.host+path, io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1
	req.TransferEncoding = []string{"chunked"}
	req.Host = br.host
	req.RemoteAddr = br.addr
	req.Header = h
	if br.cookie != nil {
		req.AddCookie(br.cookie)
	}
	check := req.Clone(req.Context())
	rec := httptest.NewRecorder()
	br.srv.Handler().ServeHTTP(rec, req)
	checkAPIExchange(br.t, check, []byte(body), rec)
	return rec
}

// TestChunkedBodyTooLarge: a body over the limit sent without Content-Length (chunked) gets
// 413, as a form on a page and as JSON on the API, and nothing is created.
func TestChunkedBodyTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	big := strings.Repeat("a", 1<<20+1)

	rec := br.chunked(http.MethodPost, "/todos", "application/x-www-form-urlencoded", "title="+big, nil)
	wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page: Content-Type %q, want an HTML page", ct)
	}

	_, token, err := b.accounts.CreateAPIToken(t.Context(), b.first.ID, b.alice.ID, "big")
	if err != nil {
		t.Fatal(err)
	}
	rec = b.browser(firstHost).chunked(http.MethodPost, "/api/v1/todos", "application/json", `{"title":"`+big+`"}`, http.Header{"Authorization": {"Bearer " + token}})
	wantStatus(t, rec, http.StatusRequestEntityTooLarge)
	if p := problemOf(t, rec); p.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("API: problem %+v", p)
	}
	// A chunked body within the limit still works.
	wantStatus(t, br.chunked(http.MethodPost, "/todos", "application/x-www-form-urlencoded", "title=small", nil), http.StatusSeeOther)
	if got := todoTitles(t, br.get("/")); len(got) != 1 || got[0] != "small" {
		t.Errorf("to-dos %q, want only the small one", got)
	}
}

// TestPoolSaturated: with every connection of the pool taken, a page and an API request get 503
// with Retry-After (the API as problem+json) within the acquire timeout, and /readyz reports
// 503; once the connections are given back, all answer again.
func TestPoolSaturated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u, err := url.Parse(b.pooled)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "2")
	q.Set("pool_acquire_timeout", "200ms")
	u.RawQuery = q.Encode()
	small := testfactory.DB(ctx, t, u.String())
	srv := b.newServerOn(small)
	page := from(t, srv, firstHost, "198.51.100.80")
	page.login(b.alice.Email)
	_, token, err := b.accounts.CreateAPIToken(ctx, b.first.ID, b.alice.ID, "busy")
	if err != nil {
		t.Fatal(err)
	}
	api := from(t, srv, firstHost, "198.51.100.81")
	ready := from(t, srv, testBase, "198.51.100.82")

	// Every connection taken, for longer than the bound.
	var held []*pgxpool.Conn
	for range 2 {
		c, err := small.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	release := func() {
		for _, c := range held {
			c.Release()
		}
		held = nil
	}
	t.Cleanup(release)

	wantBusy := func(what string, rec *httptest.ResponseRecorder) {
		t.Helper()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s: status %d, Retry-After %q; want 503 with Retry-After", what, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	rec := page.get("/")
	wantBusy("page", rec)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page: Content-Type %q, want an HTML page", ct)
	}
	rec = api.api(http.MethodGet, "/api/v1/todos", "", token)
	wantBusy("API", rec)
	if p := problemOf(t, rec); p.Status != http.StatusServiceUnavailable || p.Code != toodoo.EUNAVAILABLE {
		t.Errorf("API: problem %+v", p)
	}
	wantBusy("/readyz", ready.get("/readyz"))

	release()
	wantStatus(t, page.get("/"), http.StatusOK)
	wantStatus(t, api.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusOK)
	wantStatus(t, ready.get("/readyz"), http.StatusOK)
}
