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
	if err := v.pages["todos.html"].ExecuteTemplate(&b, "layout", p); err != nil {
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
	if err := v.pages["todos.html"].ExecuteTemplate(&b, "layout", p); err != nil {
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
