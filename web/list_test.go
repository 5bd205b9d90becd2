package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/gen/tenantdb"
)

// fragment posts a form the way web/static/app.js does: same form, X-Toodoo-Fragment: 1.
func (br *browser) fragment(path string, kv ...string) *httptest.ResponseRecorder {
	br.t.Helper()
	return br.do(http.MethodPost, path, strings.NewReader(formBody(kv...)), http.Header{
		"Content-Type":      {"application/x-www-form-urlencoded"},
		"Sec-Fetch-Site":    {"same-origin"},
		"X-Toodoo-Fragment": {"1"},
	})
}

// replyOf decodes the script's JSON answer.
func replyOf(t *testing.T, rec *httptest.ResponseRecorder, wantStatus int) todoReply {
	t.Helper()
	if rec.Code != wantStatus || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("got %d %s, want %d JSON; body:\n%.1000s", rec.Code, rec.Header().Get("Content-Type"), wantStatus, rec.Body)
	}
	var r todoReply
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("decode reply: %v: %s", err, rec.Body)
	}
	return r
}

// undoTokenIn returns the undo token of the first undo form in an HTML string ("" if none).
func undoTokenIn(t *testing.T, htmlText string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	rec.WriteString(htmlText)
	for _, in := range findAll(parseHTML(t, rec), func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "undo" }) {
		return attr(in, "value")
	}
	return ""
}

// TestTodoFragments: the list's script gets the row's HTML and the counts for add, tick, rename,
// delete and undo; a refused title comes back as a field error; undo brings the to-do back with
// its id, once; an undo token works only for the person and workspace it was made for.
func TestTodoFragments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	r := replyOf(t, br.fragment("/todos", "title", "Buy milk", "status", "all"), http.StatusOK)
	if r.ID == 0 || !strings.Contains(r.Row, "Buy milk") || !strings.Contains(r.Row, `id="todo-`+itoa(r.ID)+`"`) {
		t.Fatalf("add: reply %+v", r)
	}
	if r.Counts == nil || r.Counts.Open != 1 || r.Counts.All != 1 || !strings.Contains(r.Toast, "Added “Buy milk”.") {
		t.Errorf("add: counts %+v, toast %q", r.Counts, r.Toast)
	}
	id := r.ID

	bad := replyOf(t, br.fragment("/todos", "title", "   "), http.StatusBadRequest)
	if bad.Field != "title" || bad.Error == "" {
		t.Errorf("refused title: reply %+v", bad)
	}
	bad = replyOf(t, br.fragment("/todos/"+itoa(id), "title", ""), http.StatusBadRequest)
	if bad.Field != "title" || bad.Error == "" {
		t.Errorf("refused rename: reply %+v", bad)
	}

	r = replyOf(t, br.fragment("/todos/"+itoa(id)+"/done", "done", "true", "status", "open"), http.StatusOK)
	if !strings.Contains(r.Row, `class="todo done"`) || r.Counts.Done != 1 || r.Counts.Open != 0 {
		t.Errorf("tick: row %q counts %+v", r.Row, r.Counts)
	}
	if !strings.Contains(r.Row, `name="status" value="open"`) {
		t.Errorf("tick: the row's forms lost the filter: %q", r.Row)
	}

	r = replyOf(t, br.fragment("/todos/"+itoa(id), "title", "Buy oat milk"), http.StatusOK)
	if !strings.Contains(r.Row, "Buy oat milk") || !strings.Contains(r.Toast, "Renamed") {
		t.Errorf("rename: %+v", r)
	}

	r = replyOf(t, br.fragment("/todos/"+itoa(id)+"/delete"), http.StatusOK)
	if r.Row != "" || r.Counts.All != 0 || !strings.Contains(r.Toast, "Deleted “Buy oat milk”.") {
		t.Errorf("delete: %+v", r)
	}
	token := undoTokenIn(t, r.Toast)
	if token == "" {
		t.Fatalf("delete: no undo form in the toast %q", r.Toast)
	}
	if got := todoTitles(t, br.get("/")); len(got) != 0 {
		t.Fatalf("after delete the list shows %q", got)
	}

	// Someone else (dave, same workspace) cannot use alice's token; bob cannot on second.
	dave := b.browser(firstHost)
	dave.login(b.dave.Email)
	replyOf(t, dave.fragment("/todos/undo", "undo", token), http.StatusBadRequest)
	bob := b.browser(secondHost)
	bob.login(b.bob.Email)
	replyOf(t, bob.fragment("/todos/undo", "undo", token), http.StatusBadRequest)
	if got := todoTitles(t, bob.get("/")); len(got) != 0 {
		t.Fatalf("second lists %q after an undo with first's token", got)
	}
	// A token altered in any way is refused.
	replyOf(t, br.fragment("/todos/undo", "undo", token[:len(token)-2]+"AA"), http.StatusBadRequest)

	r = replyOf(t, br.fragment("/todos/undo", "undo", token), http.StatusOK)
	if r.ID != id || !strings.Contains(r.Row, "Buy oat milk") || !strings.Contains(r.Row, `class="todo done"`) || r.Counts.Done != 1 {
		t.Errorf("undo: %+v (want id %d back, done)", r, id)
	}
	// Twice: nothing more.
	replyOf(t, br.fragment("/todos/undo", "undo", token), http.StatusOK)
	if got := todoTitles(t, br.get("/")); !slices.Equal(got, []string{"Buy oat milk"}) {
		t.Errorf("after undo the list shows %q", got)
	}
	// And new to-dos do not collide with the restored id.
	r = replyOf(t, br.fragment("/todos", "title", "After"), http.StatusOK)
	if r.ID <= id {
		t.Errorf("a new to-do got id %d, not above the restored %d", r.ID, id)
	}
}

// TestUndoToken: the token's expiry, binding and key rotation.
func TestUndoToken(t *testing.T) {
	t.Parallel()
	srv := &Server{cfg: Config{SessionKeys: [][]byte{[]byte("new key"), []byte("old key")}}}
	old := &Server{cfg: Config{SessionKeys: [][]byte{[]byte("old key")}}}
	now := time.Now()
	todo := tenantdb.Todo{ID: 7, Title: "Buy milk", CreatedBy: 3, CreatedAt: now}
	tok, err := old.newUndoToken(1, 3, todo, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := srv.readUndoToken(tok, 1, 3, now.Add(time.Minute)); err != nil || got.ID != 7 || got.Title != "Buy milk" {
		t.Errorf("a token of the old key: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name         string
		tenant, user int64
		at           time.Time
	}{
		{"expired", 1, 3, now.Add(undoWindow + time.Minute)},
		{"other tenant", 2, 3, now},
		{"other user", 1, 4, now},
	} {
		if _, err := srv.readUndoToken(tok, tc.tenant, tc.user, tc.at); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	for _, bad := range []string{"", ".", "abc", tok + "x", "x" + tok} {
		if _, err := srv.readUndoToken(bad, 1, 3, now); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
	if _, err := (&Server{cfg: Config{SessionKeys: [][]byte{[]byte("other")}}}).readUndoToken(tok, 1, 3, now); err == nil {
		t.Error("a token signed with another key was accepted")
	}
}

// TestTodoWithoutScript: the same forms without the script redirect back to the row
// (/#todo-ID); a delete leads to the list with an undo offer naming the to-do, whose form
// brings it back with its id; the offer is gone once it is back.
func TestTodoWithoutScript(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	rec := br.post("/todos", "title", "Buy milk", "status", "open")
	wantRedirect(t, rec, "/?status=open#todo-")
	id := strings.TrimPrefix(rec.Header().Get("Location"), "/?status=open#todo-")
	doc := parseHTML(t, br.get("/?status=open"))
	if toast := texts(doc, byID("toast")); len(toast) != 1 || !strings.Contains(toast[0], "Added “Buy milk”.") {
		t.Errorf("the message after adding: %q", toast)
	}
	if flashes := texts(doc, byClass("p", "flash")); len(flashes) != 0 {
		t.Errorf("the list shows the message above it too: %q", flashes)
	}
	wantRedirect(t, br.post("/todos/"+id+"/done", "done", "true"), "/#todo-"+id)
	wantRedirect(t, br.post("/todos/"+id, "title", "Buy oat milk"), "/#todo-"+id)

	rec = br.post("/todos/"+id+"/delete", "status", "all")
	wantRedirect(t, rec, "/?undo=")
	loc := rec.Header().Get("Location")
	rec = br.get(loc)
	doc = parseHTML(t, rec)
	toast := texts(doc, byID("toast"))
	if len(toast) != 1 || !strings.Contains(toast[0], "Deleted “Buy oat milk”.") || !strings.Contains(toast[0], "Undo") {
		t.Fatalf("after delete the page says %q, want the to-do named and Undo", toast)
	}
	u, _ := url.Parse(loc)
	wantRedirect(t, br.post("/todos/undo", "undo", u.Query().Get("undo")), "/#todo-"+id)
	rec = br.get("/")
	if got := todoTitles(t, rec); !slices.Equal(got, []string{"Buy oat milk"}) {
		t.Errorf("after undo the list shows %q", got)
	}
	if li := findAll(parseHTML(t, rec), byID("todo-"+id)); len(li) != 1 || !strings.Contains(attr(li[0], "class"), "done") {
		t.Errorf("the to-do did not come back as it was, with id %s and done", id)
	}
	// The address with the token, again: the to-do is back, so no undo is offered.
	if toast := texts(parseHTML(t, br.get(loc)), byID("toast")); len(toast) == 1 && strings.Contains(toast[0], "Undo") {
		t.Errorf("undo offered for a to-do that is back: %q", toast)
	}
	// A bad token without the script: a message, nothing else.
	wantRedirect(t, br.post("/todos/undo", "undo", "nonsense"), "/")
	if toast := texts(parseHTML(t, br.get("/")), byID("toast")); len(toast) != 1 || !strings.Contains(toast[0], "can no longer be restored") {
		t.Errorf("after a bad undo: %q", toast)
	}

	// The edit page keeps the filter, and its refusal has an error summary that links to the field.
	rec = br.post("/todos/"+id, "title", "", "status", "done")
	wantStatus(t, rec, http.StatusBadRequest)
	doc = parseHTML(t, rec)
	if links := findAll(doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "href") == "#title" }); len(links) != 1 {
		t.Error("the refused edit has no error summary linking to the field")
	}

	// The empty state invites an owner's team.
	wantRedirect(t, br.post("/todos/"+id+"/delete"), "/")
	doc = parseHTML(t, br.get("/"))
	if links := findAll(doc, func(n *html.Node) bool {
		return n.Data == "a" && attr(n, "href") == "/members" && strings.Contains(text(n), "Invite your team")
	}); len(links) != 1 {
		t.Errorf("the empty list of an owner has no invite link: %q", texts(doc, byID("todos-empty")))
	}
}

// TestTokenCreateRedirects: creating a token redirects; the list then shows the secret once
// (it works), and reloading creates nothing and shows it no more.
func TestTokenCreateRedirects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	rec := br.post("/tokens", "name", "backup")
	wantRedirect(t, rec, "/tokens")
	if strings.Contains(rec.Body.String(), "tdo_") {
		t.Error("the POST's answer carries the secret")
	}
	doc := parseHTML(t, br.get("/tokens"))
	secret := texts(doc, byID("new-token"))
	if len(secret) != 1 || secret[0] == "" {
		t.Fatalf("the list after creating does not show the secret")
	}
	if copyBtn := findAll(doc, func(n *html.Node) bool { return n.Data == "button" && attr(n, "data-copy") == "new-token" }); len(copyBtn) != 1 {
		t.Error("no Copy button next to the secret")
	}
	wantStatus(t, b.browser(firstHost).api(http.MethodGet, "/api/v1/todos", "", secret[0]), http.StatusOK)
	rec = br.get("/tokens")
	if len(findAll(parseHTML(t, rec), byID("new-token"))) != 0 || strings.Contains(rec.Body.String(), secret[0]) {
		t.Error("reloading shows the secret again")
	}
	tokens, err := b.accounts.ListAPITokens(t.Context(), b.first.ID, b.alice.ID)
	if err != nil || len(tokens) != 1 {
		t.Fatalf("%d tokens after one create and two reloads (%v), want 1", len(tokens), err)
	}

	// Revoking asks first.
	path := "/tokens/" + itoa(tokens[0].ID) + "/revoke"
	rec = br.post(path)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Revoke the token “backup”?") {
		t.Errorf("revoke without confirmation: %.500s", rec.Body)
	}
	wantStatus(t, b.browser(firstHost).api(http.MethodGet, "/api/v1/todos", "", secret[0]), http.StatusOK)
	wantRedirect(t, br.post(path, "confirm", "yes"), "/tokens")
	wantStatus(t, b.browser(firstHost).api(http.MethodGet, "/api/v1/todos", "", secret[0]), http.StatusUnauthorized)

	// A refused name: 400 with the summary, and nothing created.
	rec = br.post("/tokens", "name", "")
	wantStatus(t, rec, http.StatusBadRequest)
	if len(findAll(parseHTML(t, rec), byID("error-summary"))) != 1 {
		t.Error("a refused token name has no error summary")
	}
}

// TestMembersFeedback: removing asks first; the last owner cannot be removed or demoted, and
// the page says so before any click; inviting a member is a no-op that says so; pending
// invitations are listed and can be revoked.
func TestMembersFeedback(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	doc := parseHTML(t, br.get("/members"))
	if notes := texts(doc, byID("last-owner-"+itoa(b.alice.ID))); len(notes) != 1 || !strings.Contains(notes[0], "only owner") {
		t.Errorf("the last owner's row does not explain the rule: %q", notes)
	}
	disabled := findAll(doc, func(n *html.Node) bool {
		return n.Data == "button" && attr(n, "aria-describedby") == "last-owner-"+itoa(b.alice.ID)
	})
	if len(disabled) != 1 || !hasAttr(disabled[0], "disabled") {
		t.Error("the last owner's Remove button is not disabled")
	}

	// Remove asks first; nothing happens without confirm=yes.
	path := "/members/" + itoa(b.dave.ID) + "/remove"
	rec := br.post(path)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Remove dave@example.com from First Team?") {
		t.Errorf("remove without confirmation: %.600s", rec.Body)
	}
	if m, _ := b.accounts.ListMembers(ctx, b.first.ID); len(m) != 2 {
		t.Fatalf("%d members after an unconfirmed removal", len(m))
	}

	// Inviting dave, a member already: no invitation, and the answer says so.
	before := len(b.queuedMails())
	wantRedirect(t, br.post("/members", "email", "DAVE@example.com", "role", "member"), "/members")
	if got := len(b.queuedMails()); got != before {
		t.Errorf("inviting a member queued %d mails", got-before)
	}
	if toast := texts(parseHTML(t, br.get("/members")), byClass("p", "flash")); len(toast) != 1 || !strings.Contains(toast[0], "dave@example.com is already a member of First Team, as a member") {
		t.Errorf("inviting a member says %q", toast)
	}

	// An invitation for someone new is listed, and can be revoked.
	wantRedirect(t, br.post("/members", "email", "newcomer@example.com", "role", "owner"), "/members")
	doc = parseHTML(t, br.get("/members"))
	if flash := texts(doc, byClass("p", "flash")); len(flash) != 1 || !strings.Contains(flash[0], "they join as an owner when") {
		t.Errorf("the invitation message: %q", flash)
	}
	if cells := texts(doc, byClass("td", "")); !slices.Contains(cells, "newcomer@example.com") {
		t.Errorf("the pending invitation is not listed: %q", cells)
	}
	wantRedirect(t, br.post("/members/invitations/revoke", "email", "newcomer@example.com"), "/members")
	if inv, err := b.accounts.ListPendingInvitations(ctx, b.first.ID); err != nil || len(inv) != 0 {
		t.Errorf("after revoking: %v, %v", inv, err)
	}
	wantStatus(t, br.post("/members/invitations/revoke", "email", "newcomer@example.com"), http.StatusNotFound)

	// "ann@x" is not an address.
	rec = br.post("/members", "email", "ann@x", "role", "member")
	wantStatus(t, rec, http.StatusBadRequest)
	if len(findAll(parseHTML(t, rec), byID("error-summary"))) != 1 {
		t.Error("a refused address has no error summary")
	}

	// Confirmed: dave is removed.
	wantRedirect(t, br.post(path, "confirm", "yes"), "/members")
	if m, _ := b.accounts.ListMembers(ctx, b.first.ID); len(m) != 1 {
		t.Fatalf("%d members after a confirmed removal, want 1", len(m))
	}
	// The last owner stays, even by a forged request.
	wantRedirect(t, br.post("/members/"+itoa(b.alice.ID)+"/remove", "confirm", "yes"), "/members")
	if m, _ := b.accounts.ListMembers(ctx, b.first.ID); len(m) != 1 || m[0].Role != account.RoleOwner {
		t.Fatalf("members after removing the last owner: %v", m)
	}
}

// TestSignupAllErrors: sign-up reports every refused field at once, a taken address among them,
// in a summary that links to each field, in the words of the labels.
func TestSignupAllErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.browser(testBase).post("/signup", "display_name", "", "subdomain", "first", "email", "ann@x", "password", "short")
	wantStatus(t, rec, http.StatusBadRequest)
	doc := parseHTML(t, rec)
	for _, f := range []string{"display_name", "subdomain", "email", "password"} {
		if len(findAll(doc, byID(f+"-error"))) != 1 {
			t.Errorf("no error next to %s; errors: %q", f, texts(doc, byClass("", "field-error")))
		}
		if len(findAll(doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "href") == "#"+f })) != 1 {
			t.Errorf("the error summary has no link to %s", f)
		}
	}
	if sub := texts(doc, byID("subdomain-error")); len(sub) != 1 || !strings.Contains(sub[0], "address") || strings.Contains(sub[0], "subdomain") {
		t.Errorf("the address error %q does not use the label's word", sub)
	}
	if h := texts(doc, byID("error-summary")); len(h) != 1 || !strings.Contains(h[0], "There are 4 problems") {
		t.Errorf("summary: %q", h)
	}
}

// hasAttr reports whether n has the attribute.
func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}
