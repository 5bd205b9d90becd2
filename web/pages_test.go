package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
)

// TestTodoPages: add, validation next to the field with the typed text kept, filter and counts,
// edit, done/undone, delete, flash messages.
func TestTodoPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	rec := br.get("/")
	wantStatus(t, rec, http.StatusOK)
	// The page goes out in one write with its length, not chunked.
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %q, body %d bytes", cl, rec.Body.Len())
	}
	doc := parseHTML(t, rec)
	if got := texts(doc, byClass("a", "brand")); len(got) != 1 || got[0] != "First Team" {
		t.Fatalf("header %q, want the workspace's display name", got)
	}
	if got := texts(doc, byClass("span", "who")); len(got) != 1 || !strings.Contains(got[0], b.alice.Email) {
		t.Fatalf("who is signed in: %q", got)
	}
	// Every input has a label.
	inputs := findAll(doc, func(n *nodeT) bool { return n.Data == "input" && attr(n, "type") != "hidden" })
	if len(inputs) == 0 {
		t.Fatal("no inputs on the page")
	}
	for _, in := range inputs {
		if id := attr(in, "id"); id == "" || len(findAll(doc, func(n *nodeT) bool { return n.Data == "label" && attr(n, "for") == id })) != 1 {
			t.Errorf("input %q has no label", id)
		}
	}

	for _, tc := range []struct{ name, title, want string }{
		{"empty", "   ", "Enter a title."},
		{"too long", strings.Repeat("ü", 501), "too long"},
	} {
		rec := br.post("/todos", "title", tc.title, "status", "open")
		wantStatus(t, rec, http.StatusBadRequest)
		doc := parseHTML(t, rec)
		if got := texts(doc, byID("title-error")); len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.want)
		}
		in := findAll(doc, byID("title"))
		if len(in) != 1 || attr(in[0], "value") != tc.title || attr(in[0], "aria-invalid") != "true" {
			t.Errorf("%s: the typed text is not kept in an invalid field", tc.name)
		}
	}
	// Exactly 500 characters is fine.
	wantRedirect(t, br.post("/todos", "title", strings.Repeat("ü", 500)), "/")

	wantRedirect(t, br.post("/todos", "title", "Water plants", "status", "open"), "/?status=open")
	rec = br.get("/?status=open")
	if got := texts(parseHTML(t, rec), byClass("div", "toast")); len(got) != 1 || !strings.Contains(got[0], "Water plants") {
		t.Fatalf("flash %q", got)
	}
	// The flash is shown once.
	if got := texts(parseHTML(t, br.get("/")), byClass("div", "toast")); len(got) != 0 {
		t.Fatalf("flash shown twice: %q", got)
	}
	wantRedirect(t, br.post("/todos", "title", "Pay rent"), "/")

	ids := map[string]string{}
	for _, li := range findAll(parseHTML(t, br.get("/")), byClass("li", "todo")) {
		ids[text(findAll(li, byClass("span", "title"))[0])] = strings.TrimPrefix(attr(li, "id"), "todo-")
	}
	wantRedirect(t, br.post("/todos/"+ids["Pay rent"]+"/done", "done", "true"), "/")
	counts := func(path string) []string {
		return texts(parseHTML(t, br.get(path)), byClass("span", "count"))
	}
	if got := counts("/"); !slices.Equal(got, []string{"3", "2", "1"}) {
		t.Fatalf("counts all/open/done = %q", got)
	}
	rec = br.get("/?status=done")
	if got := todoTitles(t, rec); !slices.Equal(got, []string{"Pay rent"}) {
		t.Fatalf("done list %q", got)
	}
	if got := todoTitles(t, br.get("/")); got[len(got)-1] != "Pay rent" {
		t.Fatalf("open first: %q", got)
	}
	wantRedirect(t, br.post("/todos/"+ids["Pay rent"]+"/done", "done", "false"), "/")
	if got := todoTitles(t, br.get("/?status=done")); len(got) != 0 {
		t.Fatalf("done list after undo %q", got)
	}
	wantStatus(t, br.post("/todos/"+ids["Pay rent"]+"/done", "done", "perhaps"), http.StatusBadRequest)

	// Edit.
	rec = br.get("/todos/" + ids["Water plants"] + "/edit")
	wantStatus(t, rec, http.StatusOK)
	if in := findAll(parseHTML(t, rec), byID("title")); len(in) != 1 || attr(in[0], "value") != "Water plants" {
		t.Fatal("the edit form does not show the title")
	}
	rec = br.post("/todos/"+ids["Water plants"], "title", "")
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("title-error")); len(got) != 1 {
		t.Fatalf("edit error %q", got)
	}
	wantRedirect(t, br.post("/todos/"+ids["Water plants"], "title", "Water all plants"), "/")
	if got := todoTitles(t, br.get("/")); !slices.Contains(got, "Water all plants") {
		t.Fatalf("after edit %q", got)
	}

	// Delete; then it is not found.
	wantRedirect(t, br.post("/todos/"+ids["Water plants"]+"/delete"), "/")
	wantStatus(t, br.post("/todos/"+ids["Water plants"]+"/delete"), http.StatusNotFound)
	wantStatus(t, br.get("/todos/"+ids["Water plants"]+"/edit"), http.StatusNotFound)
	wantStatus(t, br.get("/todos/99999999999999999999/edit"), http.StatusNotFound)
	wantStatus(t, br.get("/no/such/page"), http.StatusNotFound)
	wantStatus(t, br.do(http.MethodPut, "/", nil, nil), http.StatusMethodNotAllowed)
	// Static files.
	rec = br.get("/static/style.css")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("style.css Content-Type %q", rec.Header().Get("Content-Type"))
	}
	wantStatus(t, br.get("/static/"), http.StatusNotFound)
}

type nodeT = html.Node

// TestMembers: owners add existing users, invite new ones with a one-time link, change roles
// and remove members; the last owner stays.
func TestMembers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	owner := b.browser(firstHost)
	owner.login(b.alice.Email)

	rec := owner.get("/members")
	wantStatus(t, rec, http.StatusOK)
	if got := strings.Join(texts(parseHTML(t, rec), byClass("td", "")), " "); !strings.Contains(got, b.alice.Email) || !strings.Contains(got, b.dave.Email) {
		t.Fatalf("members page: %q", got)
	}

	// Adding an address mails an invitation (TestMembershipByConsent covers who may accept).
	box := b.mailbox()
	wantRedirect(t, owner.post("/members", "email", b.carol.Email, "role", "member"), "/members")
	carol := b.browser(firstHost)
	link := box.Wait(t, b.carol.Email, "You were added to the Toodoo workspace First Team").Link(t, "/invite?t=")
	wantRedirect(t, carol.post("/invite", "t", tokenOf(t, link), "password", testPassword), "/")
	wantStatus(t, carol.get("/"), http.StatusOK)

	// Unknown email: the invitation mail's link creates the account.
	wantRedirect(t, owner.post("/members", "email", "newbie@example.com", "role", "owner"), "/members")
	link = box.Wait(t, "newbie@example.com", "You were added").Link(t, "/invite?t=")
	if !strings.HasPrefix(link, "http://"+firstHost+"/invite?t=") {
		t.Fatalf("invitation link %q", link)
	}
	path := strings.TrimPrefix(link, "http://"+firstHost)
	wantStatus(t, b.browser(secondHost).get(path), http.StatusNotFound) // another workspace
	newbie := b.browser(firstHost)
	rec = newbie.get(path)
	wantStatus(t, rec, http.StatusOK)
	token := tokenOf(t, link)
	wantStatus(t, newbie.post("/invite", "t", token, "password", "short"), http.StatusBadRequest)
	wantRedirect(t, newbie.post("/invite", "t", token, "password", testPassword), "/")
	wantStatus(t, newbie.get("/members"), http.StatusOK) // invited as owner
	wantStatus(t, b.browser(firstHost).post("/invite", "t", token, "password", testPassword), http.StatusNotFound)

	// Refusals are shown next to the email field.
	for _, tc := range []struct{ email, role string }{{"not-an-email", "member"}, {"x@example.com", "king"}} {
		rec := owner.post("/members", "email", tc.email, "role", tc.role)
		wantStatus(t, rec, http.StatusBadRequest)
		if got := texts(parseHTML(t, rec), byID("email-error")); len(got) != 1 {
			t.Errorf("%v: error %q", tc, got)
		}
	}

	// Role change and removal.
	wantRedirect(t, owner.post(fmt.Sprintf("/members/%d/role", b.dave.ID), "role", "owner"), "/members")
	if m, err := b.accounts.Membership(t.Context(), b.dave.ID, b.first.ID); err != nil || m.Role != "owner" {
		t.Fatalf("dave's membership %+v, %v", m, err)
	}
	wantRedirect(t, owner.post(fmt.Sprintf("/members/%d/remove", b.carol.ID), "confirm", "yes"), "/members")
	if _, err := b.accounts.Membership(t.Context(), b.carol.ID, b.first.ID); err == nil {
		t.Fatal("carol is still a member")
	}
	wantStatus(t, owner.post(fmt.Sprintf("/members/%d/remove", b.carol.ID), "confirm", "yes"), http.StatusNotFound)

	// The last owner: in second, bob is the only owner.
	bob := b.browser(secondHost)
	bob.login(b.bob.Email)
	wantRedirect(t, bob.post(fmt.Sprintf("/members/%d/remove", b.bob.ID), "confirm", "yes"), "/members")
	if got := texts(parseHTML(t, bob.get("/members")), byClass("p", "flash")); len(got) != 1 || !strings.Contains(got[0], "last owner") {
		t.Fatalf("flash %q", got)
	}
	wantRedirect(t, bob.post(fmt.Sprintf("/members/%d/role", b.bob.ID), "role", "member"), "/members")
	if m, err := b.accounts.Membership(t.Context(), b.bob.ID, b.second.ID); err != nil || m.Role != account.RoleOwner {
		t.Fatalf("bob's membership %+v, %v", m, err)
	}
}

// TestAdmin: the superuser's platform admin lists tenants and creates, suspends, resumes and
// deletes them.
func TestAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	admin := b.browser(testBase)
	admin.login(b.root.Email)
	rec := admin.get("/admin")
	wantStatus(t, rec, http.StatusOK)
	doc := parseHTML(t, rec)
	row := findAll(doc, byID("tenant-first"))
	if len(row) != 1 {
		t.Fatal("no row for first")
	}
	cells := texts(row[0], byClass("td", ""))
	if !strings.Contains(cells[1], "active") || !strings.Contains(cells[2], firstHost) || cells[3] != "2" || !strings.Contains(cells[4], "current") {
		t.Fatalf("first's row: %q", cells)
	}

	rec = admin.post("/admin/tenants", "name", "Bad Name", "display_name", "x")
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("name-error")); len(got) != 1 {
		t.Fatalf("name error %q", got)
	}
	rec = admin.post("/admin/tenants", "name", "third", "domain", firstHost)
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byClass("p", "field-error")); len(got) != 1 || !strings.Contains(got[0], "taken") {
		t.Fatalf("domain error %q", got)
	}
	wantRedirect(t, admin.post("/admin/tenants", "name", "third", "display_name", "Third"), "/admin")
	eventually(t, "third is served", func() bool { return b.browser("third."+testBase).get("/login").Code == http.StatusOK })

	wantRedirect(t, admin.post("/admin/tenants/third/suspend"), "/admin")
	eventually(t, "third is suspended", func() bool { return b.browser("third."+testBase).get("/login").Code == http.StatusForbidden })
	wantRedirect(t, admin.post("/admin/tenants/third/resume"), "/admin")
	eventually(t, "third is back", func() bool { return b.browser("third."+testBase).get("/login").Code == http.StatusOK })
	wantStatus(t, admin.post("/admin/tenants/nope/suspend"), http.StatusNotFound)

	// Deleting needs the name typed.
	wantRedirect(t, admin.post("/admin/tenants/third/delete", "confirm", "thi"), "/admin")
	if _, err := b.db.Get(t.Context(), "third"); err != nil {
		t.Fatalf("third deleted without confirmation: %v", err)
	}
	wantRedirect(t, admin.post("/admin/tenants/third/delete", "confirm", "third"), "/admin")
	eventually(t, "third is gone", func() bool { return b.browser("third."+testBase).get("/login").Code == http.StatusNotFound })
	if strings.Contains(admin.get("/admin").Body.String(), "tenant-third") {
		t.Fatal("a deleted tenant is listed")
	}
}

// TestHome: the public landing page shows nothing of any tenant to visitors, and a signed-in
// user's own workspaces to them.
func TestHome(t *testing.T) {
	t.Parallel()
	b := setup(t)
	testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{CreatedBy: b.alice.ID, Title: "secret plan"})
	rec := b.browser(testBase).get("/")
	wantStatus(t, rec, http.StatusOK)
	for _, leak := range []string{"First Team", "Second Team", "secret plan", firstHost} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("the public page shows %q", leak)
		}
	}
	br := b.browser("www." + testBase)
	br.login(b.alice.Email)
	rec = br.get("/")
	// Each workspace is a button that signs her in there (handleSwitch): in the list and in the
	// workspace menu.
	doc := parseHTML(t, rec)
	if got := texts(doc, byClass("span", "ws-title")); len(got) != 1 || got[0] != "First Team" {
		t.Fatalf("alice's workspaces: %q", got)
	}
	switches := findAll(doc, func(n *nodeT) bool {
		return n.Data == "input" && attr(n, "name") == "to" && attr(n, "value") == strconv.FormatInt(b.first.ID, 10)
	})
	if len(switches) != 2 {
		t.Fatalf("%d forms switch to first, want 2 (the list and the menu)", len(switches))
	}
	if strings.Contains(rec.Body.String(), secondHost) || strings.Contains(rec.Body.String(), "Second Team") {
		t.Fatal("alice's home shows bob's workspace")
	}
}

// TestServeShutdown: Serve returns when its context ends, after the in-flight request.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.newServer(func(c *Config) { c.ShutdownTimeout = 5 * time.Second })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	cancel()
	waitServe(t, done)
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// TestMethodsAndPaths: a wrong method is 405 and an unknown path 404, on every router.
func TestMethodsAndPaths(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ws := b.browser(firstHost)
	ws.login(b.root.Email)
	pub := b.browser(testBase)
	pub.login(b.root.Email)
	for _, tc := range []struct {
		br           *browser
		method, path string
		want         int
	}{
		{ws, "PUT", "/", 405},
		{ws, "PUT", "/login", 405},
		{ws, "DELETE", "/logout", 405},
		{ws, "PUT", "/password", 405},
		{ws, "GET", "/todos", 405},
		{ws, "PUT", "/members", 405},
		{ws, "GET", "/members/1/remove", 405},
		{ws, "POST", "/static/style.css", 405},
		{ws, "GET", "/nothing", 404},
		{ws, "GET", "/members/x", 404},
		{ws, "GET", "/signup", 404},
		{ws, "GET", "/admin", 404},
		{pub, "PUT", "/", 405},
		{pub, "PUT", "/login", 405},
		{pub, "GET", "/admin/tenants", 405},
		{pub, "PUT", "/signup", 405},
		{pub, "GET", "/todos/1/edit", 404},
		{pub, "GET", "/api/v1/todos", 404},
		{pub, "GET", "/members", 404},
	} {
		if rec := tc.br.do(tc.method, tc.path, nil, http.Header{"Sec-Fetch-Site": {"same-origin"}}); rec.Code != tc.want {
			t.Errorf("%s %s%s: %d, want %d", tc.method, tc.br.host, tc.path, rec.Code, tc.want)
		}
	}
}

// TestPasswordChange: the page checks the current password, and ends the user's other
// sessions on every host while keeping the one that changed it.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.member(b.second, b.alice, account.RoleMember)
	here, other, elsewhere := b.browser(firstHost), b.browser(firstHost), b.browser(secondHost)
	here.login(b.alice.Email)
	other.login(b.alice.Email)
	elsewhere.login(b.alice.Email)
	wantRedirect(t, b.browser(firstHost).get("/password"), "/login")

	rec := here.post("/password", "current_password", "wrong wrong", "new_password", "new password 1", "confirm_password", "new password 1")
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("current_password-error")); len(got) != 1 {
		t.Fatalf("errors %q", got)
	}
	rec = here.post("/password", "current_password", testPassword, "new_password", "new password 1", "confirm_password", "new password 2")
	wantStatus(t, rec, http.StatusBadRequest)
	rec = here.post("/password", "current_password", testPassword, "new_password", "short", "confirm_password", "short")
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("new_password-error")); len(got) != 1 || !strings.Contains(got[0], "short") {
		t.Fatalf("errors %q", got)
	}

	wantRedirect(t, here.post("/password", "current_password", testPassword, "new_password", "new password 1", "confirm_password", "new password 1"), "/")
	wantStatus(t, here.get("/"), http.StatusOK)
	wantRedirect(t, other.get("/"), "/login")
	wantRedirect(t, elsewhere.get("/"), "/login")
	wantStatus(t, b.browser(firstHost).post("/login", "email", b.alice.Email, "password", testPassword), http.StatusUnauthorized)
	wantRedirect(t, b.browser(firstHost).post("/login", "email", b.alice.Email, "password", "new password 1"), "/")
}
