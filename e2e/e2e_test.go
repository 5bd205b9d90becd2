// Package e2e drives the real application in a real browser: chromedp controlling a headless
// Chromium (Debian's `chromium`) against the web server started in-process on a fresh database.
//
// What the handler tests in package web cannot show, these do: that the pages work as a person
// uses them (forms, redirects across hosts, host-only cookies in a browser's cookie jar), and
// what they look like. Every page visited is saved as a PNG at a desktop's width (1280 px) and a
// phone's (390 px), and must not be wider than either, under the artifacts folder
// ($TOODOO_ARTIFACTS/e2e, or e2e/artifacts when unset; git-ignored), one folder per test.
//
// Without a browser the tests skip locally and fail under CI (CI set). The browser is the first
// of $CHROME_PATH, chromium, chromium-browser, google-chrome, google-chrome-stable found.
//
// Run them with `go tool task test:e2e` or `go test ./e2e/`.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/mailtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
	"github.com/toodoo/toodoo/web"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// stepTimeout bounds each step, so a page that never shows what a step waits for fails the test
// (with a screenshot of what it shows instead) rather than hanging it.
const stepTimeout = 15 * time.Second

// findChrome returns the browser to drive, or skips the test (fails it under CI) when there is
// none.
func findChrome(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("CHROME_PATH=%q: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no browser found (chromium, chromium-browser, google-chrome or $CHROME_PATH): install Debian's chromium to run the browser tests"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// app is the application served on a loopback port for one test.
type app struct {
	db   *tenancy.DB
	def  *schemadef.Definition
	acc  *account.Service
	port int
	mail *mailtest.Server
	// direct is the database's URL without the connection pooler (for writes of fixtures in bulk).
	direct string
}

// url returns the URL of path on host ("localhost", "acme.localhost"), which the browser
// resolves to the loopback address like every *.localhost name.
func (a *app) url(host, path string) string {
	return fmt.Sprintf("http://%s:%d%s", host, a.port, path)
}

// startApp serves the real application (web.New, base domain "localhost", dev mode) on a fresh
// database with the shared schema, on 127.0.0.1 and a free port. It stops when the test ends.
func startApp(t *testing.T) *app {
	t.Helper()
	pooled, direct := dbtest.URLs(t)
	ctx := t.Context()
	db := testfactory.DB(ctx, t, pooled)
	def := schemadef.MustDefault()

	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := web.New(web.Config{
		BaseDomain:        "localhost",
		DirectDatabaseURL: direct,
		Dev:               true,
	}, db, logger)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	box := mailtest.Start(t) // the mail catcher: a real SMTP server, fed by the real queue
	box.Run(t, pooled, direct)
	serveCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return &app{db: db, def: def, acc: account.New(db), port: ln.Addr().(*net.TCPAddr).Port, mail: box, direct: direct}
}

// browser is one headless Chromium tab with a place for its screenshots.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
	n   atomic.Int32
}

// newBrowser starts Chromium for the test and returns its tab. The browser is closed when the
// test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	execPath := findChrome(t)

	dir := os.Getenv("TOODOO_ARTIFACTS")
	if dir == "" {
		dir = "artifacts" // the test runs in e2e/: e2e/artifacts
	} else {
		dir = filepath.Join(dir, "e2e")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, background networking off, ...
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox, // as root in a container, Chromium's sandbox cannot start
		chromedp.WindowSize(desktopWidth, desktopHeight),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to end
	})
	b := &browser{t: t, ctx: ctx, dir: dir}
	// The first action starts the browser, which lives as long as the context of that action:
	// ctx, not a per-step context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	t.Logf("screenshots in %s", dir)
	return b
}

// do runs steps in the tab; on failure it saves a screenshot of the page as it is, logs its
// address and text, and fails the test with what was being done.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// run runs one action that returns a value, within stepTimeout.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		b.t.Logf("page at failure: %s", loc)
	} else {
		b.t.Logf("page at failure: unknown: %v", err)
	}
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err == nil {
		b.t.Logf("page text at failure:\n%s", text)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(b.dir, "failure.png")
		if err := os.WriteFile(path, png, 0o644); err == nil {
			b.t.Logf("screenshot at failure: %s", path)
		}
	}
	b.t.Fatalf("%s: %v", what, err)
}

// Viewports every page is looked at in: a desktop window and a phone (an iPhone 14's CSS
// pixels).
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// shot saves full-page PNGs of the current page as it looks on a desktop (NN-name-1280.png) and
// on a phone (NN-name-390.png), resizing the viewport in place (no reload: the page may be the
// answer to a POST), and fails the test if the page is wider than either: every page the tests
// visit is checked for sideways scrolling. The desktop viewport is restored afterwards.
func (b *browser) shot(name string) {
	b.t.Helper()
	for _, vp := range []struct {
		width, height int64
		opts          []chromedp.EmulateViewportOption
	}{{desktopWidth, desktopHeight, nil}, {phoneWidth, phoneHeight, []chromedp.EmulateViewportOption{chromedp.EmulateMobile}}} {
		b.do(fmt.Sprintf("resize to %dpx", vp.width), chromedp.EmulateViewport(vp.width, vp.height, vp.opts...))
		b.save(fmt.Sprintf("%s-%d", name, vp.width), run(b, "screenshot "+name, chromedp.FullScreenshot(100)))
		if w := run(b, "measure the page", chromedp.Evaluate[int](`Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0)`)); w > int(vp.width) {
			b.t.Errorf("%s at %dpx is %dpx wide: it scrolls sideways", name, vp.width, w)
		}
	}
	b.do("resize back to the desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// save saves a PNG as NN-name.png.
func (b *browser) save(name string, png []byte) {
	b.t.Helper()
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		b.t.Fatalf("screenshot %s is not a PNG", name)
	}
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n.Add(1), name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// location returns the address of the current page.
func (b *browser) location() string {
	b.t.Helper()
	return run(b, "read the location", chromedp.Location())
}

// text returns the visible text of the first element matching the CSS selector.
func (b *browser) text(css string) string {
	b.t.Helper()
	return run(b, "read the text of "+css, chromedp.Text(chromedp.CSS(css)))
}

// todoTitles returns the titles of the to-dos listed on the page (none when the list is empty).
func (b *browser) todoTitles() []string {
	b.t.Helper()
	return run(b, "read the to-do titles", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("ul.todos li .title"), e => e.textContent.trim())`))
}

// todoXPath finds a listed to-do by its exact title.
func todoXPath(title string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//ul[contains(@class,"todos")]//*[contains(@class,"title") and normalize-space(.)=%q]`, title))
}

// TestSeedScenario is the product's promise, through the real UI: sign up a workspace on the
// public site, continue to its own host and land signed in, add a to-do and see it; sign in to another
// workspace (where the same person is a member), and the to-do is not there, while that
// workspace's own to-do is; back on the first workspace, the second's to-do is not there either.
func TestSeedScenario(t *testing.T) {
	t.Parallel()
	b := newBrowser(t) // first: skips before any database work when there is no browser
	a := startApp(t)
	ctx := t.Context()

	// The second workspace, with a to-do of its own, created the way operators do.
	second := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Second Workspace", Domain: "second.localhost", Name: "second"})
	const secondTodo = "Only in the second workspace"
	owner := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: "owner@second.example", Password: "second-owner-password"})
	testfactory.Member(ctx, t, a.acc, second, owner, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Todo(ctx, t, a.db, second, &testfactory.TodoOpts{CreatedBy: owner.ID, Title: secondTodo})

	const (
		email    = "ada@acme.example"
		password = "correct horse battery"
		todo     = "Buy milk for the Acme office"
	)

	// The public site.
	b.do("open the public site", chromedp.Navigate(a.url("localhost", "/")), chromedp.WaitVisible(chromedp.CSS("main")))
	b.shot("public-home")
	if titles := b.todoTitles(); len(titles) != 0 {
		t.Errorf("the public site lists to-dos: %q", titles)
	}

	// Sign up.
	b.do("open the sign-up form",
		chromedp.Navigate(a.url("localhost", "/signup")),
		chromedp.WaitVisible(chromedp.ID("subdomain")),
		chromedp.SendKeys(chromedp.ID("display_name"), "Acme Rockets"),
		chromedp.SendKeys(chromedp.ID("subdomain"), "acme"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
	)
	b.shot("signup-filled")
	b.do("submit the sign-up form",
		chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("check-email")),
	)
	b.shot("signup-check-email")
	link := a.mail.Wait(t, email, "Confirm your e-mail address").Link(t, "/verify?t=")
	b.do("open the verification link from the mail and confirm",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/verify"] button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/verify"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("title")), // the to-do form: only on a workspace's list
	)
	b.shot("acme-after-signup")
	if got, want := b.location(), a.url("acme.localhost", "/"); got != want {
		t.Errorf("after sign-up the browser is at %s, want %s", got, want)
	}
	if header := b.text("header"); !strings.Contains(header, "Acme Rockets") || !strings.Contains(header, email) {
		t.Errorf("header %q: want the workspace's name and the signed-in user's email", header)
	}

	// Add a to-do and see it.
	b.do("add a to-do",
		chromedp.SendKeys(chromedp.ID("title"), todo),
		chromedp.Click(chromedp.CSS(`form[action="/todos"] button[type="submit"]`)),
		chromedp.WaitVisible(todoXPath(todo)),
	)
	b.shot("acme-todo-added")
	if titles := b.todoTitles(); !slices.Equal(titles, []string{todo}) {
		t.Errorf("acme lists %q, want just %q", titles, todo)
	}

	// The same person becomes a member of the second workspace (an owner there adds them).
	if _, err := a.acc.AddMember(ctx, second.ID, email, account.RoleMember); err != nil {
		t.Fatalf("add %s to the second workspace: %v", email, err)
	}

	// The acme session cookie is host-only: the second workspace asks to sign in.
	b.do("open the second workspace",
		chromedp.Navigate(a.url("second.localhost", "/")),
		chromedp.WaitVisible(chromedp.ID("password")),
	)
	b.shot("second-login")
	if loc := b.location(); !strings.HasPrefix(loc, a.url("second.localhost", "/login")) {
		t.Errorf("anonymous on the second workspace: at %s, want its sign-in page", loc)
	}
	b.do("sign in to the second workspace",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("title")),
	)
	b.shot("second-signed-in")
	if got, want := b.location(), a.url("second.localhost", "/"); got != want {
		t.Errorf("after signing in the browser is at %s, want %s", got, want)
	}
	if header := b.text("header"); !strings.Contains(header, "Second Workspace") {
		t.Errorf("header %q: want the second workspace's name", header)
	}
	if titles := b.todoTitles(); !slices.Equal(titles, []string{secondTodo}) {
		t.Errorf("the second workspace lists %q, want just its own %q (not acme's %q)", titles, secondTodo, todo)
	}
	if main := b.text("main"); strings.Contains(main, todo) {
		t.Errorf("acme's to-do %q shows on the second workspace", todo)
	}

	// And the other way round: acme (still signed in there) does not show the second's to-do.
	b.do("go back to acme",
		chromedp.Navigate(a.url("acme.localhost", "/")),
		chromedp.WaitVisible(todoXPath(todo)),
	)
	b.shot("acme-again")
	if titles := b.todoTitles(); !slices.Equal(titles, []string{todo}) {
		t.Errorf("acme lists %q, want just %q", titles, todo)
	}

	// On a phone's width the list is readable: nothing wider than the screen.
	b.do("narrow the window to a phone's width",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(todoXPath(todo)),
	)
	if w := run(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("on a 390px wide screen the page is %dpx wide: it scrolls sideways", w)
	}
	b.shot("acme-phone")
}

// TestBrowserResolvesLocalhostSubdomains checks the premise of `task dev` and of the scenario:
// Chromium sends *.localhost to the loopback address by itself (no /etc/hosts, no resolver
// rules), keeping the name in the Host header, so the server tells the workspaces apart.
func TestBrowserResolvesLocalhostSubdomains(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	hosts := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hosts <- r.Host:
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>host</title><p id=host>%s</p>", r.Host)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	port := ln.Addr().(*net.TCPAddr).Port
	want := fmt.Sprintf("some-workspace.localhost:%d", port)
	b.do("open a *.localhost address", chromedp.Navigate("http://"+want+"/"), chromedp.WaitVisible(chromedp.ID("host")))
	select {
	case got := <-hosts:
		if got != want {
			t.Errorf("the server saw Host %q, want %q", got, want)
		}
	default:
		t.Fatal("the server saw no request")
	}
}

// TestPasswordResetScenario, through the real UI: "Forgot your password?" on a workspace's
// sign-in page, the reset mail from the SMTP catcher, a new password, and the browser lands
// signed in; a session opened elsewhere before the reset is gone.
func TestPasswordResetScenario(t *testing.T) {
	t.Parallel()
	b := newBrowser(t) // first: skips before any database work when there is no browser
	a := startApp(t)
	ctx := t.Context()
	const (
		email = "grace@acme.example"
		old   = "the old password"
		fresh = "a brand new password"
	)
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets", Domain: "acme.localhost", Name: "acme"})
	u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: old})
	testfactory.Member(ctx, t, a.acc, acme, u, &testfactory.MemberOpts{Role: account.RoleOwner})

	// Elsewhere: a session opened with the old password (a plain HTTP client on the loopback).
	jar, _ := cookiejar.New(nil)
	elsewhere := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", a.port))
		}}}
	resp, err := elsewhere.PostForm(a.url("acme.localhost", "/login"), url.Values{"email": {email}, "password": {old}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/" || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign in elsewhere: %s at %s", resp.Status, resp.Request.URL)
	}

	b.do("ask for a reset link from the sign-in page",
		chromedp.Navigate(a.url("acme.localhost", "/login")),
		chromedp.WaitVisible(chromedp.ID("forgot-link")),
		chromedp.Click(chromedp.ID("forgot-link")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/password/forgot"]`)),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.Click(chromedp.CSS(`form[action="/password/forgot"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("check-email")),
	)
	b.shot("reset-check-email")
	link := a.mail.Wait(t, email, "Reset your Toodoo password").Link(t, "/password/reset?t=")
	b.do("open the link from the mail and choose a new password",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("new_password")),
		chromedp.SendKeys(chromedp.ID("new_password"), fresh),
		chromedp.SendKeys(chromedp.ID("confirm_password"), fresh),
		chromedp.Click(chromedp.CSS(`form[action="/password/reset"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("title")), // the to-do form: signed in on the workspace
	)
	b.shot("reset-signed-in")
	if got, want := b.location(), a.url("acme.localhost", "/"); got != want {
		t.Errorf("after the reset the browser is at %s, want %s", got, want)
	}
	if header := b.text("header"); !strings.Contains(header, email) {
		t.Errorf("header %q: want the signed-in user's email", header)
	}

	resp, err = elsewhere.Get(a.url("acme.localhost", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Errorf("the session opened before the reset still works: at %s", resp.Request.URL)
	}
}
