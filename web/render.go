package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"github.com/toodoo/toodoo"
)

// assets holds the templates and the static files, compiled into the binary.
//
//go:embed templates/*.html static
var assets embed.FS

// sharedTemplates are the templates any page may use; parseViews parses them with every page.
const sharedTemplates = "templates/shared.html"

// views are the parsed templates, one per page: each defines the page's "content", which render
// puts into layoutView (views.templ).
type views struct {
	pages map[string]*template.Template
	// The static files' addresses, with a content hash of them all for cache busting.
	styleURL, scriptURL string
}

// parseViews parses every page at start-up, so a broken template fails New.
func parseViews() (*views, error) {
	v := &views{pages: map[string]*template.Template{}}
	h := sha256.New()
	err := fs.WalkDir(assets, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		h.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	tag := hex.EncodeToString(h.Sum(nil))[:12]
	v.styleURL, v.scriptURL = "/static/style.css?v="+tag, "/static/app.js?v="+tag
	funcs := template.FuncMap{
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"datep": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		// dateShort is a date that fits a table cell: the day, in UTC.
		"dateShort": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02")
		},
		"sub": func(a, b int64) int64 { return a - b },
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		base := path.Base(name)
		if name == sharedTemplates {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, sharedTemplates, name)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", base, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("web: %s defines no \"content\" template", base)
		}
		v.pages[base] = t
	}
	return v, nil
}

// page is what the layout needs on every page; each page's data embeds it.
type page struct {
	Title     string
	SiteName  string // the workspace's display name, or "Toodoo"
	Public    bool   // the public site
	Workspace bool   // a workspace's site
	User      *user
	Flash     string
	FlashKind string // "ok" or "error"
	Path      string
	PublicURL string // the public site's address (scheme, host, port), for links off a workspace

	// Workspaces are the signed-in user's workspaces, for the workspace menu.
	Workspaces []menuWorkspace
	// WorkspacesMore is how many of them the menu leaves out (see menuMax).
	WorkspacesMore int
	// Wide pages get a wider column: their tables need it.
	Wide bool
	// OffSite pages are served on hosts that lead nowhere usable (unknown, suspended): their
	// links go to the public site.
	OffSite bool
}

func (p *page) base() *page { return p }

type pageData interface{ base() *page }

// viewPage is a page whose content is a templ component (views.templ) rather than a template of
// templates/: render executes no html/template for it.
type viewPage interface {
	pageData
	content() templ.Component
}

// widePages get the wide layout: their tables have more columns than a text column holds.
var widePages = map[string]bool{"admin.html": true, "members.html": true, "tokens.html": true}

// render executes a page into a buffer and writes it only if that worked, so a template error
// becomes a clean 500 instead of half a page; the buffer also gives the response its
// Content-Length, so net/http writes it at once instead of in chunks. It also writes the
// session if it changed (the flash message shown here is removed from it). name is the page's
// template in templates/, unless data is a viewPage.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data pageData) error {
	ctx := r.Context()
	p := data.base()
	st := siteFrom(ctx)
	p.Public = st.Public
	p.Workspace = !st.Public && st.Tenant.ID != 0
	p.SiteName = "Toodoo"
	if p.Workspace {
		p.SiteName = st.Tenant.DisplayName
	}
	p.User = userFrom(ctx)
	p.Path = r.URL.Path
	p.PublicURL = s.siteURL(r, s.cfg.BaseDomain)
	p.Wide = widePages[name]
	if p.User != nil && !p.User.ViaToken && p.Workspaces == nil {
		// The menu is a convenience: a page still renders without it. (A handler that has read
		// the person's workspaces already fills it: the public home page.)
		if ws, total, err := s.userWorkspaces(ctx, p.User); err != nil {
			s.logger.WarnContext(ctx, "workspace menu", "error", err)
		} else {
			p.Workspaces, p.WorkspacesMore = ws, total-len(ws)
		}
	}
	if sess := info(ctx).Session; sess != nil {
		p.FlashKind, p.Flash = sess.popFlash()
	}
	buf := pageBufs.Get().(*bytes.Buffer)
	defer putPageBuf(buf)
	if err := s.views.renderPage(buf, name, data); err != nil {
		return err
	}
	if err := s.saveSession(w, r); err != nil {
		return fmt.Errorf("web: save session: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// renderPage writes the page: layoutView around the page's content, a templ component for a
// viewPage, else the "content" of its template name, executed straight into the layout's
// buffer (html/template escapes what it writes).
func (v *views) renderPage(w io.Writer, name string, data pageData) error {
	var content templ.Component
	if vp, ok := data.(viewPage); ok {
		content = vp.content()
	} else {
		t, ok := v.pages[name]
		if !ok {
			return fmt.Errorf("web: no template %q", name)
		}
		content = templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
			return t.ExecuteTemplate(w, "content", data)
		})
	}
	// Not the request's context: templ only checks it for cancellation, and a page the client
	// stopped waiting for is not an error of the page.
	if err := layoutView(data.base(), v, content).Render(context.Background(), w); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	return nil
}

// pageBufs are render's buffers: a page is tens of kilobytes (the list with its menu), and
// growing a fresh buffer to that for every request showed in the profile of GET /.
var pageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putPageBuf returns a buffer to pageBufs, unless an unusually large page grew it.
func putPageBuf(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return
	}
	b.Reset()
	pageBufs.Put(b)
}

// errorPage is the page for every error.
type errorPage struct {
	page
	Status    int
	Heading   string
	Message   string
	Hint      string // what to do now, when there is more to say than the message
	Suspended bool   // a suspended workspace's page
	Unknown   bool   // an unknown host's page
}

// renderError renders the error page; if even that fails, plain text.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, err error) {
	heading := http.StatusText(status)
	data := &errorPage{Status: status, Message: errorMessage(err)}
	switch {
	case err == errUnknownHost:
		heading = "No workspace at this address"
		data.Unknown, data.OffSite = true, true
		data.Message = "This address does not lead to any Toodoo workspace."
		data.Hint = "Check it for a typing mistake. If the workspace moved or closed, ask its owner for the new address, or sign in on Toodoo's home page to see the workspaces you belong to."
	case toodoo.ErrorCode(err) == toodoo.ESUSPENDED && !siteFrom(r.Context()).Public && r.URL.Path != "/switch":
		heading = "This workspace is suspended"
		data.Suspended, data.OffSite = true, true
		data.Message = "“" + tenantFrom(r.Context()).DisplayName + "” has been suspended by Toodoo's administrators. Its to-dos are kept, but nobody can open them until it is resumed."
		data.Hint = "Members: ask your workspace's owner. Owners: contact Toodoo's administrators to have it resumed. Your other workspaces are not affected."
	}
	data.Title, data.Heading = heading, heading
	if rerr := s.render(w, r, status, "error.html", data); rerr != nil {
		s.logger.Error("render error page", "error", rerr)
		http.Error(w, errorMessage(err), status)
	}
}

// redirect sends the browser on with 303 See Other (POST-redirect-GET), writing the session
// first if it changed.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) {
	if err := s.saveSession(w, r); err != nil {
		s.writeError(w, r, fmt.Errorf("web: save session: %w", err))
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// flash leaves a message for the next page.
func flash(r *http.Request, kind, msg string) {
	if st := info(r.Context()).Session; st != nil {
		st.setFlash(kind, msg)
	}
}

// staticHandler serves the embedded static files; their URLs carry a content hash, so they can
// be cached for long.
func staticHandler() http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
