package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/toodoo/toodoo/gen/tenantdb"
)

// hostileTitles are titles that try to leave their context in every way the row puts them:
// element text, the quotes around it, attribute values, the template syntax, and long ones.
var hostileTitles = []string{
	"Buy milk",
	"<script>alert(1)</script>",
	`"onmouseover="alert(1)`,
	`" onmouseover=alert(1) x="`,
	`'onfocus='alert(1)' autofocus '`,
	"</span></button></form><script>alert(1)</script>",
	"</li></ul><img src=x onerror=alert(1)>",
	"{{.Title}} {{template \"todo-row\" .}}",
	"Tom & Jerry &amp; &lt;b&gt; &#34;",
	"<!-- comment --> <![CDATA[ x ]]>",
	"javascript:alert(1)",
	"`backtick` = equals + plus",
	"Ünïcödé ✓ “quoted” 日本語 🚀 \u202e reversed",
	"tab\tand  two spaces",
	"  leading and trailing  ",
	strings.Repeat("<b>long</b> & \"quoted\" ", 500/22) + "end",
	strings.Repeat("é", 500),
}

// oldPartials are the html/template partials that views.templ replaced.
func oldPartials(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := template.ParseFiles("testdata/partials_old.html")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func execOld(t *testing.T, tpl *template.Template, name string, data any) string {
	t.Helper()
	var b bytes.Buffer
	if err := tpl.ExecuteTemplate(&b, name, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// canonical parses an HTML fragment as the children of parent (as the browser parses the page
// around it, or the script's innerHTML) and prints its tree: elements with their attributes
// sorted, text exactly (whitespace-only text between elements is dropped: the list's rows and
// the toast are flex boxes, where it is not rendered). Two fragments with the same canonical form
// mean the same to the browser, to the script's selectors and to a screen reader.
func canonical(t *testing.T, fragment string, parent atom.Atom) string {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, DataAtom: parent, Data: parent.String()}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		indent := strings.Repeat("  ", depth)
		switch n.Type {
		case html.TextNode:
			if strings.TrimSpace(n.Data) == "" {
				return
			}
			fmt.Fprintf(&b, "%stext %q\n", indent, n.Data)
		case html.ElementNode:
			attrs := make([]string, len(n.Attr))
			for i, a := range n.Attr {
				attrs[i] = fmt.Sprintf("%s=%q", a.Key, a.Val)
			}
			slices.Sort(attrs)
			fmt.Fprintf(&b, "%s<%s %s>\n", indent, n.Data, strings.Join(attrs, " "))
		default:
			fmt.Fprintf(&b, "%snode %d %q\n", indent, n.Type, n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, depth+1)
		}
	}
	for _, n := range nodes {
		walk(n, 0)
	}
	return b.String()
}

// noInjection fails unless the fragment is one element of the given tag, with no script, no
// event handler attribute, and the given texts only where expected (checked by the caller's
// comparison with the old partial, which escapes by context).
func noInjection(t *testing.T, fragment string, parent, root atom.Atom) {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, DataAtom: parent, Data: parent.String()}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), ctx)
	if err != nil {
		t.Fatal(err)
	}
	var elems []*html.Node
	for _, n := range nodes {
		if n.Type == html.ElementNode {
			elems = append(elems, n)
		}
	}
	if len(elems) != 1 || elems[0].DataAtom != root {
		t.Fatalf("fragment is not one <%s>: %q", root, fragment)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Script, atom.Img, atom.Style, atom.Iframe:
				t.Errorf("injected <%s> in %q", n.Data, fragment)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "autofocus" || a.Key == "x" {
					t.Errorf("injected attribute %s in %q", a.Key, fragment)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(elems[0])
}

// TestRowRenderersAgree renders rows with hostile titles by the old html/template partial and
// by todoRowView, and compares the parsed trees: the same elements, attributes and text, and
// nothing injected. The same for the toast.
func TestRowRenderersAgree(t *testing.T) {
	old := oldPartials(t)
	for _, title := range hostileTitles {
		for _, done := range []bool{false, true} {
			for _, status := range []string{"all", "open", "done"} {
				row := todoRow{Todo: tenantdb.Todo{ID: 9007199254740993, Title: title, Done: done}, Status: status}
				got, err := renderView(todoRowView(row), rowSize)
				if err != nil {
					t.Fatal(err)
				}
				want := execOld(t, old, "todo-row", row)
				noInjection(t, got, atom.Ul, atom.Li)
				if g, w := canonical(t, got, atom.Ul), canonical(t, want, atom.Ul); g != w {
					t.Errorf("title %q done %v status %s: the rows differ\nnew:\n%s\nold:\n%s", title, done, status, g, w)
				}
				// The title reaches the reader as typed: in the title cell and the hidden labels.
				li := parseOne(t, got, atom.Ul)
				if txt := textOf(find(li, "span", "title")); txt != title {
					t.Errorf("title cell %q, want %q", txt, title)
				}
			}
		}
	}
	for _, msg := range hostileTitles {
		for _, kind := range []string{"ok", "error"} {
			for _, undo := range []string{"", "v1.abc_DEF-123", `"><script>alert(1)</script>`} {
				toast := todoToast{Kind: kind, Message: msg, Undo: undo, Status: "open"}
				got, err := renderView(todoToastView(toast), 1024)
				if err != nil {
					t.Fatal(err)
				}
				want := execOld(t, old, "todo-toast", toast)
				noInjection(t, got, atom.Div, atom.Div)
				if g, w := canonical(t, got, atom.Div), canonical(t, want, atom.Div); g != w {
					t.Errorf("toast %q kind %s undo %q: the toasts differ\nnew:\n%s\nold:\n%s", msg, kind, undo, g, w)
				}
			}
		}
	}
}

// TestMenuRenderersAgree does the same for the workspace menu's entries, with hostile names.
func TestMenuRenderersAgree(t *testing.T) {
	old := oldPartials(t)
	var ws []menuWorkspace
	for i, name := range hostileTitles {
		role := []string{"owner", "member", `"><script>alert(1)</script>`}[i%3]
		ws = append(ws, menuWorkspace{ID: int64(i + 1), Name: name, Role: role, Current: i == 3})
	}
	for _, list := range [][]menuWorkspace{nil, ws[:1], ws} {
		got, err := renderView(workspaceMenuItems(list), 0)
		if err != nil {
			t.Fatal(err)
		}
		want := execOld(t, old, "workspace-menu-items", list)
		if g, w := canonical(t, got, atom.Ul), canonical(t, want, atom.Ul); g != w {
			t.Errorf("%d workspaces: the menus differ\nnew:\n%s\nold:\n%s", len(list), g, w)
		}
		for _, w := range list {
			noInjection(t, mustRender(t, workspaceMenuItems([]menuWorkspace{w})), atom.Ul, atom.Li)
		}
	}
}

func mustRender(t *testing.T, c interface {
	Render(ctx context.Context, w io.Writer) error
}) string {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// oldPage parses the html/template version of a whole page: the old layout, the old partials
// and the page's content (a file of testdata, or of templates for the pages that keep theirs).
func oldPage(t *testing.T, v *views, content string) *template.Template {
	t.Helper()
	static := map[string]string{"style.css": v.styleURL, "app.js": v.scriptURL}
	funcs := template.FuncMap{
		"static":  func(name string) string { return static[name] },
		"initial": initial,
	}
	tpl, err := template.New("layout_old.html").Funcs(funcs).ParseFiles("testdata/layout_old.html", "testdata/partials_old.html", content)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// pageVariants are the layout's cases: signed in or not, on a workspace, on the public site or
// off any site, owner or member or superuser, with and without the workspace menu and its
// overflow, wide, with a flash; with hostile names, titles and emails.
func pageVariants() []page {
	hostile := func(i int) string { return hostileTitles[i%len(hostileTitles)] }
	var ws []menuWorkspace
	for i := range 5 {
		ws = append(ws, menuWorkspace{ID: int64(i + 1), Name: hostile(i + 1), Role: []string{"owner", "member"}[i%2], Current: i == 2})
	}
	owner := &user{ID: 1, Email: `o"<script>alert(1)</script>&amp;@example.com`, Role: "owner"}
	member := &user{ID: 2, Email: "ünï<b>@example.com", Role: "member"}
	outsider := &user{ID: 3, Email: "x'y@example.com"}
	super := &user{ID: 4, Email: "root&<i>@example.com", IsSuperuser: true}
	var ps []page
	for i, path := range []string{"/", "/members", "/tokens", "/password", "/admin", "/login", "/signup", "/other"} {
		for _, u := range []*user{nil, owner, member, outsider, super} {
			for _, site := range []string{"workspace", "public", "offsite-workspace", "offsite-public"} {
				p := page{Title: hostile(i + 1), SiteName: "Toodoo", User: u, Path: path, PublicURL: "http://toodoo.test:8080",
					Flash: hostile(i + 2), FlashKind: []string{"ok", "error", `"><script>`}[i%3], Wide: i%2 == 1}
				switch site {
				case "workspace", "offsite-workspace":
					p.Workspace, p.SiteName = true, hostile(i+3)
				default:
					p.Public = true
				}
				p.OffSite = strings.HasPrefix(site, "offsite")
				if u != nil && i%4 != 3 {
					p.Workspaces, p.WorkspacesMore = ws[:1+i%len(ws)], i%3
				}
				if i == 7 {
					p.Flash = ""
				}
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// comparePages renders data with the new layout (renderPage) and with old, and compares the
// parsed documents.
func comparePages(t *testing.T, v *views, old *template.Template, name string, data pageData) string {
	t.Helper()
	var got, want bytes.Buffer
	if err := v.renderPage(&got, name, data); err != nil {
		t.Fatal(err)
	}
	if err := old.ExecuteTemplate(&want, "layout", data); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.String(), "<!doctype html>") { // canonicalDoc leaves the doctype out
		t.Errorf("%s: no doctype: %.40q", name, got.String())
	}
	g, w := canonicalDoc(t, got.String()), canonicalDoc(t, want.String())
	if g != w {
		t.Errorf("%s: the pages differ (%+v)\n%s", name, *data.base(), diffLines(g, w))
	}
	return got.String()
}

// canonicalDoc is canonical for a whole document.
func canonicalDoc(t *testing.T, doc string) string {
	t.Helper()
	n, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if err := html.Render(&b, c); err != nil {
			t.Fatal(err)
		}
	}
	return canonical(t, b.String(), atom.Html)
}

// diffLines is the first line where two canonical forms differ, with some context.
func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			lo := max(0, i-3)
			return fmt.Sprintf("new:\n%s\nold:\n%s", strings.Join(g[lo:min(len(g), i+4)], "\n"), strings.Join(w[lo:min(len(w), i+4)], "\n"))
		}
	}
	return ""
}

// TestPagesAgree renders whole pages with templ's layoutView and with the html/template layout
// it replaced, and compares the parsed documents: the list page (all templ), the error page and
// the sign-in page (templ layout around their html/template content), in every case of the
// layout and with hostile input in every field a page shows.
func TestPagesAgree(t *testing.T) {
	v, err := parseViews()
	if err != nil {
		t.Fatal(err)
	}
	todos := oldPage(t, v, "testdata/todos_old.html")
	errorOld := oldPage(t, v, "templates/error.html")
	login := oldPage(t, v, "templates/login.html")
	for i, pv := range pageVariants() {
		h := func(k int) string { return hostileTitles[(i+k)%len(hostileTitles)] }
		for _, status := range []string{"all", "open", "done"} {
			p := &todoIndexPage{page: pv, Status: status, MaxTitle: MaxTitleChars, Counts: tenantdb.TodoCountsRow{Open: int64(i), Done: 7}}
			switch i % 4 {
			case 0:
				p.NewTitle, p.TitleError = h(1), h(2)
			case 1:
				p.Toast = todoToast{Kind: []string{"ok", "error"}[i%2], Message: h(3), Undo: h(4), Status: status}
			case 2:
				p.Truncated = true
			}
			if i%3 != 0 { // else an empty list, with its empty state
				for k := range 3 {
					p.Rows = append(p.Rows, todoRow{Todo: tenantdb.Todo{ID: int64(k + 1), Title: h(k), Done: k == 1}, Status: status})
				}
			}
			comparePages(t, v, todos, "todos", p)
		}
		e := &errorPage{page: pv, Status: 400 + i, Heading: h(1), Message: h(2), Hint: h(3)}
		switch i % 3 {
		case 0:
			e.Unknown = true
		case 1:
			e.Suspended, e.Hint = true, ""
		}
		comparePages(t, v, errorOld, "error.html", e)
		comparePages(t, v, login, "login.html", &loginPage{page: pv, Email: h(4), Next: "/" + h(5), Error: h(i % 2 * 6)})
	}
}

// TestPageRowsAreTheRowView renders the list page and checks that its list holds exactly the
// old partial's rows, in order, its toast the old partial's toast and its workspace menu the old
// partial's entries: the views are in the page where the html/template partials were.
func TestPageRowsAreTheRowView(t *testing.T) {
	v, err := parseViews()
	if err != nil {
		t.Fatal(err)
	}
	old := oldPartials(t)
	ws := []menuWorkspace{{ID: 1, Name: "Acme <b>", Role: "owner", Current: true}, {ID: 2, Name: `Beta "Labs"`, Role: "member"}}
	p := &todoIndexPage{page: page{Title: "To-dos", User: &user{ID: 1, Email: "a@example.com", Role: "owner"}, Workspace: true, Workspaces: ws}, Status: "open", MaxTitle: MaxTitleChars,
		Toast: todoToast{Kind: "ok", Message: hostileTitles[1], Undo: "tok", Status: "open"}}
	var wantRows strings.Builder
	for i, title := range hostileTitles {
		row := todoRow{Todo: tenantdb.Todo{ID: int64(i + 1), Title: title, Done: i%2 == 0}, Status: p.Status}
		p.Rows = append(p.Rows, row)
		wantRows.WriteString(execOld(t, old, "todo-row", row))
	}
	var b bytes.Buffer
	if err := v.renderPage(&b, "todos", p); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	ul, toast := findID(doc, "todos"), findID(doc, "toast")
	if ul == nil || toast == nil {
		t.Fatalf("no #todos or #toast in the page:\n%s", b.String())
	}
	if g, w := canonical(t, innerHTML(t, ul), atom.Ul), canonical(t, wantRows.String(), atom.Ul); g != w {
		t.Errorf("the page's rows differ from the old partial's\npage:\n%s\nold:\n%s", g, w)
	}
	if g, w := canonical(t, innerHTML(t, toast), atom.Div), canonical(t, execOld(t, old, "todo-toast", p.Toast), atom.Div); g != w {
		t.Errorf("the page's toast differs from the old partial's\npage:\n%s\nold:\n%s", g, w)
	}
	menu := find(doc, "details", "ws-menu")
	if menu == nil || find(menu, "div", "menu-panel") == nil {
		t.Fatalf("no workspace menu in the page:\n%s", b.String())
	}
	var menuList *html.Node
	for c := find(menu, "div", "menu-panel").FirstChild; c != nil; c = c.NextSibling {
		if c.DataAtom == atom.Ul {
			menuList = c
		}
	}
	if g, w := canonical(t, innerHTML(t, menuList), atom.Ul), canonical(t, execOld(t, old, "workspace-menu-items", ws), atom.Ul); g != w {
		t.Errorf("the page's workspace menu differs from the old partial's\npage:\n%s\nold:\n%s", g, w)
	}
	// No toast, no element in the region (the script checks toast.firstElementChild).
	p.Toast = todoToast{}
	b.Reset()
	if err := v.renderPage(&b, "todos", p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `aria-live="polite"></div>`) {
		t.Errorf("the empty toast region is not empty")
	}
}

func parseOne(t *testing.T, fragment string, parent atom.Atom) *html.Node {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, DataAtom: parent, Data: parent.String()}
	nodes, err := html.ParseFragment(strings.NewReader(fragment), ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Type == html.ElementNode {
			return n
		}
	}
	t.Fatalf("no element in %q", fragment)
	return nil
}

// find is the first element below n with the tag and the class.
func find(n *html.Node, tag, class string) *html.Node {
	if n.Type == html.ElementNode && n.Data == tag {
		for _, a := range n.Attr {
			if a.Key == "class" && slices.Contains(strings.Fields(a.Val), class) {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, tag, class); f != nil {
			return f
		}
	}
	return nil
}

func findID(n *html.Node, id string) *html.Node {
	if n.Type == html.ElementNode {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id {
				return n
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findID(c, id); f != nil {
			return f
		}
	}
	return nil
}

func textOf(n *html.Node) string {
	if n == nil {
		return "<missing>"
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func innerHTML(t *testing.T, n *html.Node) string {
	t.Helper()
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if err := html.Render(&b, c); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
