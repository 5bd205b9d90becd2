package web

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/securecookie"

	"github.com/toodoo/toodoo/internal/testfactory"
)

// TestTodoIndexCounts: the list and its counts come from one statement; the counts are over all
// the to-dos whatever the filter, an empty list still has them, and a list cut at pageListMax
// says so.
func TestTodoIndexCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	page := func(path string) (titles, counts []string, truncated bool) {
		t.Helper()
		rec := br.get(path)
		wantStatus(t, rec, http.StatusOK)
		doc := parseHTML(t, rec)
		return texts(doc, byClass("span", "title")), texts(doc, byClass("span", "count")),
			strings.Contains(rec.Body.String(), "Only the first 500 are shown")
	}
	for _, path := range []string{"/", "/?status=open", "/?status=done"} {
		if titles, counts, cut := page(path); len(titles) != 0 || !slices.Equal(counts, []string{"0", "0", "0"}) || cut {
			t.Fatalf("%s of an empty workspace: %q, counts %q, truncated %v", path, titles, counts, cut)
		}
	}
	insert := func(n int, done bool) {
		t.Helper()
		_, err := b.db.Pool().Exec(t.Context(), `INSERT INTO "`+b.first.Schema+`".todos (title, created_by, done, completed_at)
			SELECT 'todo ' || g, $2, $3, CASE WHEN $3 THEN now() END FROM generate_series(1, $1::int) g`, n, b.alice.ID, done)
		if err != nil {
			t.Fatal(err)
		}
	}
	insert(3, false)
	// No done to-do: the done list is empty and still counts the open ones.
	if titles, counts, _ := page("/?status=done"); len(titles) != 0 || !slices.Equal(counts, []string{"3", "3", "0"}) {
		t.Fatalf("done list: %q, counts %q", titles, counts)
	}
	if titles, counts, cut := page("/"); !slices.Equal(titles, []string{"todo 3", "todo 2", "todo 1"}) || !slices.Equal(counts, []string{"3", "3", "0"}) || cut {
		t.Fatalf("list: %q, counts %q, truncated %v", titles, counts, cut)
	}
	insert(pageListMax+1, true)
	wantCounts := []string{"504", "3", "501"}
	titles, counts, cut := page("/?status=done")
	if len(titles) != pageListMax || titles[0] != "todo 501" || !slices.Equal(counts, wantCounts) || !cut {
		t.Fatalf("done list: %d rows from %q, counts %q, truncated %v", len(titles), titles[0], counts, cut)
	}
	titles, counts, cut = page("/")
	if len(titles) != pageListMax || !slices.Equal(titles[:4], []string{"todo 3", "todo 2", "todo 1", "todo 501"}) || !slices.Equal(counts, wantCounts) || !cut {
		t.Fatalf("list: %d rows from %q, counts %q, truncated %v", len(titles), titles[:4], counts, cut)
	}
	if titles, counts, cut := page("/?status=open"); len(titles) != 3 || !slices.Equal(counts, wantCounts) || cut {
		t.Fatalf("open list: %q, counts %q, truncated %v", titles, counts, cut)
	}
}

// TestPageRoundTrips counts the round trips to the database of the signed-in pages, at a proxy
// between the pool and the server that counts the server's ReadyForQuery messages (one per
// Sync or simple query: one per round trip). The to-do page costs two: the session with the
// workspace menu, and the list with its counts.
func TestPageRoundTrips(t *testing.T) {
	b := setup(t)
	proxied, trips := countingProxy(t, b.pooled)
	// One connection: the one that prepared the statements is the one that runs them next.
	db := testfactory.DB(t.Context(), t, proxied+"&pool_max_conns=1")
	b.srv = b.newServerOn(db)
	br := b.browser(firstHost)
	br.login(b.alice.Email)
	count := func(what string, do func() *httptestRecorder) int64 {
		t.Helper()
		// Warm up: the connection prepares the statements on their first run, and the read scope's
		// own statement on the first run that pipelines it (see tenancy.scopeTx).
		do()
		do()
		trips.Store(0)
		rec := do()
		n := trips.Load()
		t.Logf("%s: %d round trips (status %d)", what, n, rec.Code)
		return n
	}
	if n := count("GET /", func() *httptestRecorder { return br.get("/") }); n != 2 {
		t.Errorf("GET / took %d round trips, want 2 (the session with the menu, the list with its counts)", n)
	}
	if n := count("GET /?status=done", func() *httptestRecorder { return br.get("/?status=done") }); n != 2 {
		t.Errorf("GET /?status=done took %d round trips, want 2", n)
	}
	// A POST answered with a redirect reads no menu: its authentication is the one round trip
	// besides the to-do's insert.
	title := 0
	count("POST /todos", func() *httptestRecorder {
		title++
		rec := br.post("/todos", "title", "trip "+itoa(int64(title)))
		wantRedirect(t, rec, "/")
		return rec
	})
	// A POST that renders a page (a refused title) reads the menu then.
	rec := br.post("/todos", "title", "")
	wantStatus(t, rec, http.StatusBadRequest)
	if menu := findAll(parseHTML(t, rec), byClass("details", "ws-menu")); len(menu) != 1 || !strings.Contains(text(menu[0]), "First Team") {
		t.Fatal("a POST's page has no workspace menu")
	}
}

// countingProxy starts a TCP proxy to the PostgreSQL server of databaseURL and returns the URL
// through it (without TLS, so that the proxy can read the messages) and the count of round
// trips: the server's ReadyForQuery messages, less those that answer an empty query (pgxpool's
// liveness ping of a connection that was idle for a second, which is no request's).
func countingProxy(t *testing.T, databaseURL string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil || u.Host == "" {
		t.Skipf("not a database URL with a host: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		trips atomic.Int64
		wg    sync.WaitGroup
	)
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	target := u.Host
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			wg.Go(func() {
				defer server.Close()
				_, _ = io.Copy(server, client)
			})
			wg.Go(func() {
				defer client.Close()
				r := bufio.NewReader(server)
				var prev byte
				head := make([]byte, 5)
				for {
					if _, err := io.ReadFull(r, head); err != nil {
						return
					}
					body := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
					if _, err := io.ReadFull(r, body); err != nil {
						return
					}
					if head[0] == 'Z' && prev != 'I' {
						trips.Add(1)
					}
					prev = head[0]
					if _, err := client.Write(append(head, body...)); err != nil {
						return
					}
				}
			})
		}
	})
	q := u.Query()
	q.Set("sslmode", "disable")
	u.Host, u.RawQuery = ln.Addr().String(), q.Encode()
	return u.String(), &trips
}

// TestGobCookieStillWorks: a session cookie written in the format of before (securecookie's
// gob) still signs its holder in, and the next cookie written is JSON.
func TestGobCookieStillWorks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	secret, err := b.accounts.StartSession(ctx, b.alice.ID, b.first.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	old := newSessionStore(b.srv.cfg)
	for _, c := range old.Codecs {
		c.(*securecookie.SecureCookie).SetSerializer(securecookie.GobEncoder{})
	}
	name := b.srv.sessionCookieName()
	value, err := securecookie.EncodeMulti(name, map[any]any{sessID: secret, sessFlash: "Welcome back", sessFlashK: "ok"}, old.Codecs...)
	if err != nil {
		t.Fatal(err)
	}
	br := b.replay(firstHost, &http.Cookie{Name: name, Value: value})
	rec := br.get("/")
	wantStatus(t, rec, http.StatusOK) // signed in: anonymous visitors go to /login
	if !strings.Contains(rec.Body.String(), "Welcome back") {
		t.Fatal("the old cookie's flash message is not shown")
	}
	// Showing the flash rewrote the cookie: in the new format, and it still works.
	if br.cookie == nil || br.cookie.Value == value {
		t.Fatal("the cookie was not rewritten")
	}
	var raw rawSerializer
	for _, c := range old.Codecs {
		c.(*securecookie.SecureCookie).SetSerializer(&raw)
	}
	var ignored []byte
	if err := securecookie.DecodeMulti(name, br.cookie.Value, &ignored, old.Codecs...); err != nil || !strings.HasPrefix(string(raw), "{") {
		t.Fatalf("the new cookie holds %q (%v), want a JSON object", raw, err)
	}
	wantStatus(t, br.get("/"), http.StatusOK) // signed in: anonymous visitors go to /login
}

// rawSerializer keeps the bytes it is given to deserialize.
type rawSerializer []byte

func (r *rawSerializer) Serialize(any) ([]byte, error) { return nil, nil }
func (r *rawSerializer) Deserialize(b []byte, _ any) error {
	*r = append((*r)[:0], b...)
	return nil
}

// BenchmarkSessionDecode decodes a session cookie as every signed-in request does, in the
// cookie's format and in gob, the format of before.
func BenchmarkSessionDecode(b *testing.B) {
	cfg := Config{SessionKeys: [][]byte{testKey}}
	for _, format := range []struct {
		name string
		sz   securecookie.Serializer
	}{{"json", sessionSerializer{}}, {"gob", securecookie.GobEncoder{}}} {
		b.Run(format.name, func(b *testing.B) {
			store := newSessionStore(cfg)
			for _, c := range store.Codecs {
				c.(*securecookie.SecureCookie).SetSerializer(format.sz)
			}
			value, err := securecookie.EncodeMulti("toodoo", map[any]any{sessID: strings.Repeat("s", 43)}, store.Codecs...)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				values := map[any]any{}
				if err := securecookie.DecodeMulti("toodoo", value, &values, store.Codecs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
