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

// The helpers of todo_row.templ, and the glue that puts its output into the html/template
// layout (as template.HTML: templ escaped it already).

// renderView renders a templ component into a string. The context is only checked for
// cancellation: the list's components read nothing from it.
func renderView(c templ.Component) (string, error) {
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		return "", fmt.Errorf("web: render view: %w", err)
	}
	return b.String(), nil
}

// RowsHTML is the list's rows for todos.html, rendered by todoRowView: html/template spent
// most of the page's CPU on them (about a dozen reflective, escaped interpolations per row).
func (p *todoIndexPage) RowsHTML() (template.HTML, error) {
	s, err := renderView(todoRowsView(p.Rows))
	return template.HTML(s), err //nolint:gosec // escaped by templ
}

// ToastHTML is the toast for todos.html, rendered by todoToastView as the script's answers are.
func (p *todoIndexPage) ToastHTML() (template.HTML, error) {
	if p.Toast.Message == "" {
		return "", nil
	}
	s, err := renderView(todoToastView(p.Toast))
	return template.HTML(s), err //nolint:gosec // escaped by templ
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

// todoURL is a to-do's address with suffix (a constant of the template): safe, as the id is
// a number.
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
