package web

import (
	"context"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// The glue between views.templ and the html/template pages: its components are rendered into a
// string and inserted as template.HTML (templ escaped them already), and the helpers its
// templates call.

// renderView renders a templ component into a string of about size bytes. The context is only
// checked for cancellation: these components read nothing from it.
func renderView(c templ.Component, size int) (string, error) {
	var b strings.Builder
	b.Grow(size)
	if err := c.Render(context.Background(), &b); err != nil {
		return "", fmt.Errorf("web: render view: %w", err)
	}
	return b.String(), nil
}

// About how many bytes a row and a workspace menu entry take, so that their buffer grows once.
const (
	rowSize       = 1200
	menuEntrySize = 250
)

// RowsHTML is the list's rows for todos.html (todoRowView).
func (p *todoIndexPage) RowsHTML() (template.HTML, error) {
	s, err := renderView(todoRowsView(p.Rows), len(p.Rows)*rowSize)
	return template.HTML(s), err // escaped by templ
}

// ToastHTML is the toast for todos.html (todoToastView), as the script's answers have it.
func (p *todoIndexPage) ToastHTML() (template.HTML, error) {
	if p.Toast.Message == "" {
		return "", nil
	}
	s, err := renderView(todoToastView(p.Toast), 1024)
	return template.HTML(s), err // escaped by templ
}

// WorkspaceMenuHTML is the workspace menu's entries for layout.html (workspaceMenuItems): one
// per workspace of the person.
func (p *page) WorkspaceMenuHTML() (template.HTML, error) {
	s, err := renderView(workspaceMenuItems(p.Workspaces), len(p.Workspaces)*menuEntrySize)
	return template.HTML(s), err // escaped by templ
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func todoClass(done bool) string {
	if done {
		return "todo done"
	}
	return "todo"
}

func toastClass(kind string) string {
	if kind == "error" {
		return "toast toast-error"
	}
	return "toast"
}

// todoURL is a to-do's address with suffix (a constant of the template): safe, as the id is a
// number.
func todoURL(id int64, suffix string) templ.SafeURL {
	return templ.SafeURL("/todos/" + itoa64(id) + suffix)
}

// todoEditURL is the edit page's address, with the list's filter unless it is "all".
func todoEditURL(id int64, status string) templ.SafeURL {
	u := "/todos/" + itoa64(id) + "/edit"
	if status != "all" {
		u += "?status=" + url.QueryEscape(status)
	}
	return templ.SafeURL(u)
}
