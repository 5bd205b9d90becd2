package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/tenancy"
)

// citusSetup is setup on a Citus cluster, with the database told to reach the coordinator by the
// name Citus's metadata gives it (moves connect from the coordinator to itself; the test
// cluster's nodes know each other, and their password, by that name only).
func citusSetup(t *testing.T) *bundle {
	t.Helper()
	b := setup(t)
	ctx := t.Context()
	if !b.db.Citus() {
		t.Fatal("TOODOO_TEST_CITUS_URL is set but the test database has no citus extension")
	}
	var name, host string
	if err := b.db.Pool().QueryRow(ctx, "SELECT current_database(), (SELECT nodename FROM pg_dist_node WHERE groupid = 0)").Scan(&name, &host); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool().Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET citus.local_hostname = '"+strings.ReplaceAll(host, "'", "''")+"'"); err != nil {
		t.Fatal(err)
	}
	b.db.Pool().Reset() // new sessions take the setting
	return b
}

// nodeOf is the node of a tenant, as `toodoo tenant list` shows it.
func nodeOf(t *testing.T, db *tenancy.DB, name string) string {
	t.Helper()
	list, err := db.List(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Schema == name {
			return s.Node
		}
	}
	t.Fatalf("no tenant %s", name)
	return ""
}

// TestCitusPagesAndAPIOnEitherWorker: the two workspaces of the bundle sit on different workers,
// and the pages and the API read and write each, through the coordinator, without seeing the
// other's to-dos. Workspaces made by sign-up are distributed over both workers too.
func TestCitusPagesAndAPIOnEitherWorker(t *testing.T) {
	t.Parallel()
	dbtest.NeedCitus(t)
	b := citusSetup(t)
	n1, n2 := nodeOf(t, b.db, "first"), nodeOf(t, b.db, "second")
	if n1 == tenancy.LocalNode || n2 == tenancy.LocalNode || n1 == n2 {
		t.Fatalf("first on %s, second on %s; want them on two workers", n1, n2)
	}
	for _, ws := range []struct {
		host, email, node string
	}{{firstHost, b.alice.Email, n1}, {secondHost, b.bob.Email, n2}} {
		br := b.browser(ws.host)
		br.login(ws.email)
		title := "page on " + ws.node
		wantRedirect(t, br.post("/todos", "title", title), "/")
		rec := br.get("/")
		wantStatus(t, rec, http.StatusOK)
		if got := todoTitles(t, rec); len(got) != 1 || got[0] != title {
			t.Errorf("%s: page lists %q, want [%q]", ws.host, got, title)
		}
		rec = br.api(http.MethodPost, "/api/v1/todos", `{"title": "api on `+ws.node+`"}`, "")
		wantStatus(t, rec, http.StatusCreated)
		var todo apiTodo
		mustJSON(t, rec.Body.Bytes(), &todo)
		path := fmt.Sprintf("/api/v1/todos/%d", todo.ID)
		rec = br.api(http.MethodPatch, path, `{"done": true}`, "")
		wantStatus(t, rec, http.StatusOK)
		mustJSON(t, rec.Body.Bytes(), &todo)
		if !todo.Done || todo.CompletedAt == nil {
			t.Errorf("%s: PATCH done gave %+v", ws.host, todo)
		}
		wantRedirect(t, br.post(fmt.Sprintf("/todos/%d/done", todo.ID), "done", "false"), "/") // the page's done button
		var list apiTodoList
		for cursor := ""; ; {
			rec = br.api(http.MethodGet, "/api/v1/todos?limit=1"+cursor, "", "")
			wantStatus(t, rec, http.StatusOK)
			var page apiTodoList
			mustJSON(t, rec.Body.Bytes(), &page)
			list.Todos = append(list.Todos, page.Todos...)
			if page.NextCursor == "" {
				break
			}
			cursor = "&cursor=" + page.NextCursor
		}
		if len(list.Todos) != 2 {
			t.Errorf("%s: API lists %d to-dos (paged one by one), want 2", ws.host, len(list.Todos))
		}
		wantStatus(t, br.api(http.MethodDelete, path, "", ""), http.StatusNoContent)
	}

	// Sign-ups: two new workspaces, one on each worker (Citus places new schemas in turn).
	nodes := map[string]bool{}
	for _, sub := range []string{"signup-one", "signup-two"} {
		rec := b.browser(testBase).post("/signup", "display_name", sub, "subdomain", sub, "email", sub+"@example.com", "password", testPassword)
		wantStatus(t, rec, http.StatusOK)
		node := nodeOf(t, b.db, strings.ReplaceAll(sub, "-", "_"))
		if node == tenancy.LocalNode {
			t.Errorf("the workspace %s made by sign-up is not distributed", sub)
		}
		nodes[node] = true
	}
	if len(nodes) != 2 {
		t.Errorf("the sign-ups landed on %v; want both workers", nodes)
	}
}

// TestCitusMoveAndRebalanceWhileServing: while browsers write and read a workspace through the
// API, the workspace is moved to the other worker (citus_schema_move), then the rebalancer moves
// one back; no request fails and every to-do written is there afterwards.
func TestCitusMoveAndRebalanceWhileServing(t *testing.T) {
	t.Parallel()
	dbtest.NeedCitus(t)
	b := citusSetup(t)
	from, to := nodeOf(t, b.db, "first"), nodeOf(t, b.db, "second")
	if from == to {
		t.Fatalf("both workspaces on %s", from)
	}

	const clients = 2
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		created  = map[string]int{} // host -> to-dos created
		requests atomic.Int64
	)
	for _, ws := range []struct{ host, email string }{{firstHost, b.alice.Email}, {secondHost, b.bob.Email}} {
		for i := range clients {
			br := b.browser(ws.host)
			br.login(ws.email)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; !stop.Load(); n++ {
					rec := br.api(http.MethodPost, "/api/v1/todos", fmt.Sprintf(`{"title": "c%d-%d"}`, i, n), "")
					ok := rec.Code == http.StatusCreated
					if ok {
						rec = br.api(http.MethodGet, "/api/v1/todos?limit=5", "", "")
						ok = rec.Code == http.StatusOK
					}
					requests.Add(2)
					mu.Lock()
					if ok {
						created[ws.host]++
					} else {
						failures = append(failures, fmt.Sprintf("%s: %d %s", ws.host, rec.Code, strings.TrimSpace(rec.Body.String())))
					}
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
	}

	ctx := t.Context()
	time.Sleep(200 * time.Millisecond)
	res, err := b.db.MoveTenant(ctx, "first", to, tenancy.MoveWatch{})
	if err != nil || !res.Moved {
		t.Errorf("MoveTenant: %+v, %v", res, err)
	}
	if got := nodeOf(t, b.db, "first"); got != to {
		t.Errorf("after the move first is on %s, want %s", got, to)
	}
	plan, err := b.db.RebalancePlan(ctx)
	if err != nil || len(plan) != 1 {
		t.Errorf("RebalancePlan = %+v, %v; want one move", plan, err)
	}
	if _, err := b.db.Rebalance(ctx, nil); err != nil {
		t.Errorf("Rebalance: %v", err)
	}
	if n1, n2 := nodeOf(t, b.db, "first"), nodeOf(t, b.db, "second"); n1 == n2 {
		t.Errorf("after the rebalance both workspaces are on %s", n1)
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	t.Logf("%d requests during a move (%s) and a rebalance; %d failed", requests.Load(), res.Duration, len(failures))
	for i, f := range failures {
		if i == 5 {
			t.Errorf("... and %d more", len(failures)-5)
			break
		}
		t.Errorf("request failed during the move: %s", f)
	}
	for _, ws := range []struct {
		host string
		tn   tenancy.Tenant
	}{{firstHost, b.first}, {secondHost, b.second}} {
		var n int
		if err := b.db.Pool().QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{ws.tn.Schema, "todos"}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != created[ws.host] || n == 0 {
			t.Errorf("%s: %d to-dos stored, %d created", ws.host, n, created[ws.host])
		}
	}
}
