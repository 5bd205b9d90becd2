package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/testfactory"
)

// TestTextRules: the page and the API give the same answer to the same title, with one message
// per mistake: damaged text (invalid UTF-8, a lone surrogate, U+FFFD) is refused without talking
// of control characters, and text made only of invisible characters is empty. The token and
// workspace-name forms use the same rules.
func TestTextRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	br := b.browser(firstHost)
	br.login(b.alice.Email)

	const (
		empty      = "Enter a title."
		notAllowed = "The title contains characters that are not allowed"
		control    = "The title cannot contain control characters"
	)
	id := testfactory.Todo(t.Context(), t, b.db, b.first, &testfactory.TodoOpts{CreatedBy: b.alice.ID, Title: "Edit me"}).ID
	for _, tc := range []struct {
		name string
		form string // the title as the form sends it
		json string // the same title as a JSON string literal
		want string // the start of the message
	}{
		{"invalid UTF-8", "ab\xffc", `"ab` + "\xff" + `c"`, notAllowed},
		{"encoded surrogate", "a\xed\xa0\x80", `"a` + "\xed\xa0\x80" + `"`, notAllowed},
		{"lone surrogate", "a\ufffd", `"a\ud800"`, notAllowed}, // a browser sends U+FFFD for it
		{"replacement character", "a\ufffd", `"a\ufffd"`, notAllowed},
		{"zero-width space", "\u200b", `"\u200b"`, empty},
		{"joiners and word joiner", " \u200c\u200d\u2060 ", `" \u200c\u200d\u2060 "`, empty},
		{"byte order mark", "\ufeff", `"\ufeff"`, empty},
		{"bidi marks", "\u200e\u200f", `"\u200e\u200f"`, empty},
		{"bidi overrides", "\u202a\u202b\u202c\u202d\u202e", `"\u202a\u202b\u202c\u202d\u202e"`, empty},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `"\u2066\u2067\u2068\u2069"`, empty},
		{"line break", "a\nb", `"a\nb"`, control},
		{"too long in emoji", strings.Repeat("😀", 501), `"` + strings.Repeat("😀", 501) + `"`, "The title is too long: 501 characters, at most 500."},
	} {
		// The page: creating and editing.
		for _, path := range []string{"/todos", fmt.Sprintf("/todos/%d", id)} {
			rec := br.post(path, "title", tc.form)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s: form %s: status %d, want 400", tc.name, path, rec.Code)
				continue
			}
			if got := texts(parseHTML(t, rec), byID("title-error")); len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("%s: form %s: error %q, want %q...", tc.name, path, got, tc.want)
			}
		}
		// The API: creating and updating.
		for _, call := range []struct{ method, path string }{
			{http.MethodPost, "/api/v1/todos"},
			{http.MethodPatch, fmt.Sprintf("/api/v1/todos/%d", id)},
		} {
			rec := br.api(call.method, call.path, `{"title": `+tc.json+`}`, "")
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s: API %s: status %d, want 400: %s", tc.name, call.method, rec.Code, rec.Body)
				continue
			}
			if p := problemOf(t, rec); p.Field != "title" || !strings.HasPrefix(p.Detail, tc.want) {
				t.Errorf("%s: API %s: problem %+v, want field title and %q...", tc.name, call.method, p, tc.want)
			}
		}
	}
	if got := todoTitles(t, br.get("/")); len(got) != 1 || got[0] != "Edit me" {
		t.Fatalf("refused titles changed the list: %q", got)
	}

	// Invisible characters inside visible text, and multi-byte text up to the limit, are fine.
	for _, title := range []string{"👩\u200d💻 Ship it", "می\u200cرم", strings.Repeat("😀", 500)} {
		wantRedirect(t, br.post("/todos", "title", title), "/")
		rec := br.api(http.MethodPost, "/api/v1/todos", fmt.Sprintf(`{"title": %q}`, title), "")
		wantStatus(t, rec, http.StatusCreated)
		var todo apiTodo
		mustJSON(t, rec.Body.Bytes(), &todo)
		if todo.Title != title {
			t.Errorf("API stored %+q, want %+q", todo.Title, title)
		}
	}

	// The token name and the workspace name follow the same core.
	rec := br.post("/tokens", "name", "\u200b\u2060")
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("name-error")); len(got) != 1 || got[0] != "The token name is required." {
		t.Errorf("token name of invisible characters: %q", got)
	}
	rec = br.post("/tokens", "name", "laptop \xff")
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("name-error")); len(got) != 1 || !strings.HasPrefix(got[0], "The token name contains characters that are not allowed") {
		t.Errorf("token name of invalid UTF-8: %q", got)
	}
	rec = b.browser(testBase).post("/signup", "display_name", "\u202e\u202c", "subdomain", "invisible", "email", "inv@example.com", "password", testPassword)
	wantStatus(t, rec, http.StatusBadRequest)
	if got := texts(parseHTML(t, rec), byID("display_name-error")); len(got) != 1 || got[0] != "The workspace name is required." {
		t.Errorf("workspace name of bidi controls: %q", got)
	}
}
