package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestIsolationUnderConcurrentLoad hammers two workspaces at once through the JSON API, mixing
// writes and reads, so that pooled connections pass back and forth between the tenants (with
// TEST_PGBOUNCER=1, through PgBouncer in transaction mode with 3 server connections). Every list
// must contain only its own workspace's to-dos, and the counts must add up. Through PgBouncer it
// fails if the search_path and the query it governs could reach different server connections
// (a SET outside a transaction); that the path does not outlive its transaction is checked by
// tenancy's TestScopeSearchPathAfterScopedTxIsEmpty and dbtest's PgBouncer tests.
func TestIsolationUnderConcurrentLoad(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, firstToken, err := b.accounts.CreateAPIToken(ctx, b.first.ID, b.alice.ID, "load")
	if err != nil {
		t.Fatal(err)
	}
	_, secondToken, err := b.accounts.CreateAPIToken(ctx, b.second.ID, b.bob.ID, "load")
	if err != nil {
		t.Fatal(err)
	}
	type site struct {
		host, token, prefix string
	}
	sites := []site{{firstHost, firstToken, "first-"}, {secondHost, secondToken, "second-"}}

	const workers, rounds = 8, 30
	var wg sync.WaitGroup
	created := make([]int, len(sites)) // per site, guarded by mu
	var mu sync.Mutex
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := b.browser(sites[0].host)
			for r := range rounds {
				s := sites[(w+r)%len(sites)]
				br.host = s.host
				if r%3 == 0 {
					rec := br.api(http.MethodPost, "/api/v1/todos", fmt.Sprintf(`{"title": "%s%d-%d"}`, s.prefix, w, r), s.token)
					if rec.Code != http.StatusCreated {
						t.Errorf("POST on %s: %d %s", s.host, rec.Code, rec.Body)
						return
					}
					mu.Lock()
					created[(w+r)%len(sites)]++
					mu.Unlock()
					continue
				}
				rec := br.api(http.MethodGet, "/api/v1/todos?limit=100", "", s.token)
				if rec.Code != http.StatusOK {
					t.Errorf("GET on %s: %d %s", s.host, rec.Code, rec.Body)
					return
				}
				var list apiTodoList
				if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
					t.Errorf("GET on %s: %v", s.host, err)
					return
				}
				for _, td := range list.Todos {
					if !strings.HasPrefix(td.Title, s.prefix) {
						t.Errorf("%s listed %q: another workspace's to-do", s.host, td.Title)
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, s := range sites {
		br := b.browser(s.host)
		rec := br.api(http.MethodGet, "/api/v1/todos?limit=100", "", s.token)
		var list apiTodoList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		if got, want := len(list.Todos), created[i]; got != want {
			t.Errorf("%s has %d to-dos, want the %d created there", s.host, got, want)
		}
	}
}

// BenchmarkAPI is a load test of the whole stack in one process: host resolution, bearer-token
// authentication, the tenant scope and the JSON encoding, with parallel clients alternating
// between two workspaces (ns/op is the inverse of the throughput; -cpu sets the clients). With
// TEST_PGBOUNCER=1 the database is reached through PgBouncer.
//
//	go test ./web/ -run '^$' -bench BenchmarkAPI -benchtime 2000x -count 4
func BenchmarkAPI(b *testing.B) {
	bb := setup(b)
	ctx := b.Context()
	tokens := map[string]string{}
	for host, owner := range map[string]struct {
		tenantID, userID int64
	}{firstHost: {bb.first.ID, bb.alice.ID}, secondHost: {bb.second.ID, bb.bob.ID}} {
		_, secret, err := bb.accounts.CreateAPIToken(ctx, owner.tenantID, owner.userID, "bench")
		if err != nil {
			b.Fatal(err)
		}
		tokens[host] = secret
		br := bb.browser(host)
		for i := range 20 {
			if rec := br.api(http.MethodPost, "/api/v1/todos", fmt.Sprintf(`{"title": "todo %d"}`, i), secret); rec.Code != http.StatusCreated {
				b.Fatalf("seed: %d %s", rec.Code, rec.Body)
			}
		}
	}
	for _, bc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"List", http.MethodGet, "/api/v1/todos?limit=20", "", http.StatusOK},
		{"Create", http.MethodPost, "/api/v1/todos", `{"title": "load"}`, http.StatusCreated},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				br := bb.browser(firstHost)
				n := 0
				for pb.Next() {
					n++
					br.host = firstHost
					if n%2 == 0 {
						br.host = secondHost
					}
					if rec := br.api(bc.method, bc.path, bc.body, tokens[br.host]); rec.Code != bc.want {
						b.Errorf("%s %s on %s: %d", bc.method, bc.path, br.host, rec.Code)
						return
					}
				}
			})
		})
	}
}
