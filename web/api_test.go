package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAPI covers the JSON API: CRUD, pagination, filters and every error status.
func TestAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	// Create, read, update, delete.
	rec := br.api(http.MethodPost, "/api/v1/todos", `{"title": "  Write tests  "}`, "")
	wantStatus(t, rec, http.StatusCreated)
	var todo apiTodo
	mustJSON(t, rec.Body.Bytes(), &todo)
	if todo.Title != "Write tests" || todo.Done || todo.CreatedBy != b.alice.ID || todo.CompletedAt != nil {
		t.Fatalf("created %+v", todo)
	}
	if loc := rec.Header().Get("Location"); loc != fmt.Sprintf("/api/v1/todos/%d", todo.ID) {
		t.Fatalf("Location = %q", loc)
	}
	path := fmt.Sprintf("/api/v1/todos/%d", todo.ID)
	rec = br.api(http.MethodPatch, path, `{"done": true}`, "")
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec.Body.Bytes(), &todo)
	if !todo.Done || todo.CompletedAt == nil || todo.Title != "Write tests" {
		t.Fatalf("after PATCH done: %+v", todo)
	}
	rec = br.api(http.MethodPatch, path, `{"title": "Write more tests", "done": false}`, "")
	wantStatus(t, rec, http.StatusOK)
	mustJSON(t, rec.Body.Bytes(), &todo)
	if todo.Done || todo.CompletedAt != nil || todo.Title != "Write more tests" {
		t.Fatalf("after PATCH title: %+v", todo)
	}
	wantStatus(t, br.api(http.MethodGet, path, "", ""), http.StatusOK)
	wantStatus(t, br.api(http.MethodDelete, path, "", ""), http.StatusNoContent)
	wantStatus(t, br.api(http.MethodGet, path, "", ""), http.StatusNotFound)
	wantStatus(t, br.api(http.MethodDelete, path, "", ""), http.StatusNotFound)

	// Pagination: 7 to-dos, 3 done, pages of 3.
	for i := range 7 {
		rec := br.api(http.MethodPost, "/api/v1/todos", fmt.Sprintf(`{"title": "t%d", "done": %t}`, i, i%2 == 1), "")
		wantStatus(t, rec, http.StatusCreated)
	}
	page := func(query string) apiTodoList {
		t.Helper()
		rec := br.api(http.MethodGet, "/api/v1/todos"+query, "", "")
		wantStatus(t, rec, http.StatusOK)
		var l apiTodoList
		mustJSON(t, rec.Body.Bytes(), &l)
		return l
	}
	var titles []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		l := page(q)
		for _, td := range l.Todos {
			titles = append(titles, td.Title)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if got, want := strings.Join(titles, ","), "t6,t5,t4,t3,t2,t1,t0"; got != want {
		t.Fatalf("paged titles = %s, want %s", got, want)
	}
	if l := page("?status=done"); len(l.Todos) != 3 || !l.Todos[0].Done {
		t.Fatalf("status=done: %+v", l.Todos)
	}
	if l := page("?status=open&limit=200"); len(l.Todos) != 4 || l.Todos[0].Done || l.NextCursor != "" {
		t.Fatalf("status=open: %+v", l)
	}

	// Errors: status, and the field named where there is one.
	big := `{"title": "` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		field                           string
	}{
		{"malformed JSON", "POST", "/api/v1/todos", "application/json", `{"title": `, 400, ""},
		{"not an object", "POST", "/api/v1/todos", "application/json", `["x"]`, 400, ""},
		{"trailing data", "POST", "/api/v1/todos", "application/json", `{"title":"a"} {}`, 400, ""},
		{"empty body", "POST", "/api/v1/todos", "application/json", ``, 400, ""},
		{"wrong type", "POST", "/api/v1/todos", "application/json", `{"title": 5}`, 400, "title"},
		{"wrong type done", "PATCH", "/api/v1/todos/1", "application/json", `{"done": "yes"}`, 400, "done"},
		{"unknown field", "POST", "/api/v1/todos", "application/json", `{"name": "x"}`, 400, "name"},
		{"missing title", "POST", "/api/v1/todos", "application/json", `{}`, 400, "title"},
		{"empty title", "POST", "/api/v1/todos", "application/json", `{"title": "   "}`, 400, "title"},
		{"long title", "POST", "/api/v1/todos", "application/json", `{"title": "` + strings.Repeat("é", 501) + `"}`, 400, "title"},
		{"line break", "POST", "/api/v1/todos", "application/json", `{"title": "a\nb"}`, 400, "title"},
		{"bad status", "GET", "/api/v1/todos?status=maybe", "", "", 400, "status"},
		{"bad limit", "GET", "/api/v1/todos?limit=0", "", "", 400, "limit"},
		{"huge limit", "GET", "/api/v1/todos?limit=201", "", "", 400, "limit"},
		{"bad cursor", "GET", "/api/v1/todos?cursor=abc", "", "", 400, "cursor"},
		{"not JSON", "POST", "/api/v1/todos", "text/plain", `{"title": "x"}`, 415, ""},
		{"form", "POST", "/api/v1/todos", "application/x-www-form-urlencoded", `title=x`, 415, ""},
		{"too large", "POST", "/api/v1/todos", "application/json", big, 413, ""},
		{"method", "PUT", "/api/v1/todos", "application/json", `{}`, 405, ""},
		{"method on item", "POST", "/api/v1/todos/1", "application/json", `{}`, 405, ""},
		{"no such route", "GET", "/api/v1/nothing", "", "", 404, ""},
		{"no such to-do", "GET", "/api/v1/todos/999999", "", "", 404, ""},
	} {
		h := http.Header{}
		if tc.ctype != "" {
			h.Set("Content-Type", tc.ctype)
		}
		var body *strings.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		var rec *httptestRecorder
		if body != nil {
			rec = br.do(tc.method, tc.path, body, h)
		} else {
			rec = br.do(tc.method, tc.path, nil, h)
		}
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, rec.Code, tc.status, rec.Body)
			continue
		}
		p := problemOf(t, rec)
		if p.Status != tc.status || p.Field != tc.field || p.Detail == "" {
			t.Errorf("%s: problem %+v, want status %d field %q", tc.name, p, tc.status, tc.field)
		}
	}
}

// TestAPITokens: tokens are made on the tokens page, work as bearer tokens on their workspace
// only, and stop working when revoked or when the user leaves the workspace.
func TestAPITokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.dave.Email)
	wantRedirect(t, br.post("/tokens", "name", "backup <script>"), "/tokens")
	rec := br.get("/tokens")
	doc := parseHTML(t, rec)
	secrets := texts(doc, byID("new-token"))
	if len(secrets) != 1 || !strings.HasPrefix(secrets[0], "tdo_") {
		t.Fatalf("new token shown: %q", secrets)
	}
	token := secrets[0]
	// Shown once: the list does not show it again.
	if strings.Contains(br.get("/tokens").Body.String(), token) {
		t.Fatal("the tokens page shows the secret again")
	}
	wantStatus(t, br.post("/tokens", "name", "  "), http.StatusBadRequest)

	script := b.browser(firstHost) // no cookie
	rec = script.api(http.MethodPost, "/api/v1/todos", `{"title": "from a script"}`, token)
	wantStatus(t, rec, http.StatusCreated)
	var todo apiTodo
	mustJSON(t, rec.Body.Bytes(), &todo)
	if todo.CreatedBy != b.dave.ID {
		t.Fatalf("created by %d, want dave %d", todo.CreatedBy, b.dave.ID)
	}
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusOK)
	// A bearer token does not open the pages, and is worthless on another workspace.
	wantRedirect(t, script.do(http.MethodGet, "/", nil, http.Header{"Authorization": {"Bearer " + token}}), "/login")
	rec = b.browser(secondHost).api(http.MethodGet, "/api/v1/todos", "", token)
	wantStatus(t, rec, http.StatusUnauthorized)
	if rec.Header().Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	for _, bad := range []string{"tdo_nope", "x", strings.Repeat("a", 5000)} {
		wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", bad), http.StatusUnauthorized)
	}
	// A bad bearer token is refused even with a good session cookie.
	wantStatus(t, br.api(http.MethodGet, "/api/v1/todos", "", "tdo_nope"), http.StatusUnauthorized)

	// Leaving the workspace deletes the token: coming back does not revive it (see
	// TestRemovedMemberTokensRevoked), so dave signs in again and makes another.
	if err := b.accounts.RemoveMember(t.Context(), b.first.ID, b.dave.ID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusUnauthorized)
	b.member(b.first, b.dave, "member")
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusUnauthorized)
	br.login(b.dave.Email)
	_, token, err := b.accounts.CreateAPIToken(t.Context(), b.first.ID, b.dave.ID, "again")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusOK)

	// Revoked on the page: 401.
	toks, err := b.accounts.ListAPITokens(t.Context(), b.first.ID, b.dave.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens %v, %v", toks, err)
	}
	// Another user cannot revoke it.
	other := b.browser(firstHost)
	other.login(b.alice.Email)
	wantStatus(t, other.post(fmt.Sprintf("/tokens/%d/revoke", toks[0].ID), "confirm", "yes"), http.StatusNotFound)
	wantStatus(t, other.post(fmt.Sprintf("/tokens/%d/revoke", toks[0].ID)), http.StatusNotFound)
	wantRedirect(t, br.post(fmt.Sprintf("/tokens/%d/revoke", toks[0].ID), "confirm", "yes"), "/tokens")
	wantStatus(t, script.api(http.MethodGet, "/api/v1/todos", "", token), http.StatusUnauthorized)
}
