package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// The helpers of views.templ, and renderView for the script's answers, which send a view alone.

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

// rowSize is about how many bytes a row takes, so that its buffer grows once.
const rowSize = 1200

// content is the list page's content (viewPage): no html/template on GET /.
func (p *todoIndexPage) content() templ.Component { return todosView(p) }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// todoURL is a to-do's address with suffix (a constant of the template): safe, as the id is a
// number.
func todoURL(id int64, suffix string) templ.SafeURL {
	return templ.SafeURL("/todos/" + itoa64(id) + suffix)
}

// todoEditURL is the edit page's address, with the list's filter unless it is "all".
func todoEditURL(id int64, status string) templ.SafeURL {
	return templ.SafeURL("/todos/" + itoa64(id) + "/edit" + statusQuery(status))
}

// initial is the first letter of s, upper-cased, for an avatar.
func initial(s string) string {
	for _, r := range s {
		return strings.ToUpper(string(r))
	}
	return ""
}

// brandURL is the address of the bar's brand: this site's home, or the public site's for a page
// off any usable site.
func brandURL(p *page) string {
	if p.OffSite {
		return p.PublicURL + "/"
	}
	return "/"
}

// footerSite is the footer's words before the link to Toodoo: which workspace this is.
func footerSite(p *page) string {
	if p.Workspace {
		return "Workspace “" + p.SiteName + "” on "
	}
	return ""
}

// wsMenuLabel is the workspace menu's label for screen readers; on the public site the word
// "Workspaces" is visible.
func wsMenuLabel(p *page) string {
	if p.Workspace {
		return "Workspaces (switch to another workspace)"
	}
	return " (switch to another workspace)"
}

// onSite is the account menu's words after the email: on which workspace.
func onSite(p *page) string {
	if p.Workspace {
		return " on " + p.SiteName
	}
	return ""
}

// htmlText is a string written as HTML text, escaped as a { expression } is: @htmlText(s). templ passes
// each expression's value through fmt.Sprint, a copy per expression, which made most of the
// list's allocations; this writes the string itself unless it has something to escape.
type htmlText string

func (s htmlText) Render(_ context.Context, w io.Writer) error {
	if strings.ContainsAny(string(s), `&'<>"`) { // html.EscapeString's characters
		_, err := io.WriteString(w, html.EscapeString(string(s)))
		return err
	}
	_, err := io.WriteString(w, string(s))
	return err
}
