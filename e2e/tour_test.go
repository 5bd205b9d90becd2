package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
)

// visit opens url at the desktop width and saves it at both widths (see shot), which fails the
// test if the page scrolls sideways; the header must stay on one line on the desktop. ready (CSS)
// is what shows when the page is there.
func (b *browser) visit(name, url, ready string) {
	b.t.Helper()
	b.do("open "+name,
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(ready)),
	)
	if h := run(b, "measure the header", chromedp.Evaluate[float64](`document.querySelector("header").getBoundingClientRect().height`)); h > 64 {
		b.t.Errorf("%s at %dpx: the header is %.0fpx tall, want one line", name, desktopWidth, h)
	}
	b.shot(name)
}

// styled reports whether the page's stylesheet was loaded and applied.
func (b *browser) styled() bool {
	b.t.Helper()
	return run(b, "look for the stylesheet", chromedp.Evaluate[bool](`Array.from(document.styleSheets).some(s => {
		try { return s.href && s.href.includes("/static/style.css") && s.cssRules.length > 0 } catch (e) { return false }
	})`))
}

// signIn signs in through host's sign-in form.
func (b *browser) signIn(a *app, host, email, password string) {
	b.t.Helper()
	b.do("sign in on "+host,
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
		chromedp.Navigate(a.url(host, "/login")),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.ID("password")),
	)
}

// TestEveryPage visits every page of the product as a person would find it (a workspace with
// 30 to-dos, several members and tokens, a platform of 300 tenants) at a desktop's width and a
// phone's, keeping a screenshot of each: none may be wider than the screen. The pages of hosts
// that lead nowhere (unknown, suspended) look like the product: their stylesheet loads.
func TestEveryPage(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()

	const (
		email    = "ada.lovelace-byron@analytical-engines.example"
		password = "correct horse battery"
	)
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets and Propulsion", Domain: "acme.localhost", Name: "acme"})
	beta := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Beta Labs", Domain: "beta.localhost", Name: "beta"})
	paused := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Paused Inc", Domain: "paused.localhost", Name: "paused"})
	if _, err := a.db.SetStatus(ctx, paused.Schema, "suspended"); err != nil {
		t.Fatal(err)
	}
	ada := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password, Superuser: true})
	testfactory.Member(ctx, t, a.acc, acme, ada, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Member(ctx, t, a.acc, beta, ada, nil)
	for i := range 6 {
		u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: fmt.Sprintf("colleague.number-%d.with-a-long-name@acme-rockets.example", i)})
		testfactory.Member(ctx, t, a.acc, acme, u, nil)
	}
	var first int64
	for i := range 30 {
		title := fmt.Sprintf("To-do number %d for the launch", i+1)
		if i == 3 {
			title = "Read https://example.com/a/very/long/address/that/does/not/break/anywhere/on/its/own?with=query&and=more"
		}
		td := testfactory.Todo(ctx, t, a.db, acme, &testfactory.TodoOpts{CreatedBy: ada.ID, Title: title})
		if i == 0 {
			first = td.ID
		}
	}
	for _, name := range []string{"CI deploys", "A laptop script with a rather long name"} {
		if _, _, err := a.acc.CreateAPIToken(ctx, acme.ID, ada.ID, name); err != nil {
			t.Fatal(err)
		}
	}
	testfactory.RegistryFleet(ctx, t, a.direct, 300, &testfactory.RegistryFleetOpts{BaseDomain: "localhost", DesiredHash: a.def.TenantHash()})

	const main = "main"
	// Anonymous.
	b.visit("public-home", a.url("localhost", "/"), main)
	b.visit("signup", a.url("localhost", "/signup"), main)
	b.visit("public-login", a.url("localhost", "/login"), main)
	b.visit("forgot", a.url("localhost", "/password/forgot"), main)
	b.visit("workspace-login", a.url("acme.localhost", "/login"), main)
	b.visit("unknown-host", a.url("nowhere.localhost", "/"), main)
	if !b.styled() {
		t.Errorf("the page of an unknown host is not styled: its stylesheet did not load")
	}
	b.visit("suspended", a.url("paused.localhost", "/"), main)
	if !b.styled() {
		t.Errorf("the page of a suspended workspace is not styled: its stylesheet did not load")
	}
	if text := b.text("main"); !strings.Contains(text, "suspended") {
		t.Errorf("suspended workspace's page: %q", text)
	}

	// Signed in on the public site (a superuser: the admin page too).
	b.signIn(a, "localhost", email, password)
	b.visit("public-home-signed-in", a.url("localhost", "/"), main)
	b.visit("admin", a.url("localhost", "/admin"), "table")
	b.do("create a tenant with a bad name",
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
		chromedp.Navigate(a.url("localhost", "/admin")),
		chromedp.Click(chromedp.CSS(".new-tenant summary")),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "Bad Name!"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/tenants"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("name-error")),
	)
	b.shot("admin-new-tenant-error")
	if y := run(b, "locate the error", chromedp.Evaluate[float64](`document.getElementById("name-error").getBoundingClientRect().top`)); y > desktopHeight {
		t.Errorf("the new tenant's error is %.0fpx down the page, out of sight", y)
	}
	b.visit("public-password", a.url("localhost", "/password"), main)

	// Signed in on a workspace.
	b.signIn(a, "acme.localhost", email, password)
	b.visit("todos", a.url("acme.localhost", "/"), "#title")
	b.visit("todo-edit", a.url("acme.localhost", fmt.Sprintf("/todos/%d/edit", first)), main)
	b.visit("members", a.url("acme.localhost", "/members"), main)
	b.visit("tokens", a.url("acme.localhost", "/tokens"), main)
	b.visit("password", a.url("acme.localhost", "/password"), main)

	// The README's picture: a workspace with a few to-dos, at a desktop's size. Saved with the
	// screenshots, and to $TOODOO_README_SCREENSHOT when set (docs/screenshot.png: run
	// `TOODOO_README_SCREENSHOT=$PWD/docs/screenshot.png go test ./e2e/ -run TestEveryPage`).
	for _, title := range []string{"Order 40 T-shirts for the launch", "Send the press kit to the three magazines", "Review the Q3 budget with Grace", "Book the venue for the launch party"} {
		testfactory.Todo(ctx, t, a.db, beta, &testfactory.TodoOpts{CreatedBy: ada.ID, Title: title})
	}
	b.signIn(a, "beta.localhost", email, password)
	b.do("open beta's to-dos at 1280x600",
		chromedp.EmulateViewport(desktopWidth, 600),
		chromedp.Navigate(a.url("beta.localhost", "/")),
		chromedp.WaitVisible(chromedp.ID("title")),
	)
	png := run(b, "capture the README's picture", chromedp.CaptureScreenshot())
	b.save("readme", png)
	if path := os.Getenv("TOODOO_README_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorkspaceMenu: a member of two workspaces, signed in on one with a password, moves to the
// other through the workspace menu without typing a password again; "All workspaces" then
// shows them signed in on the public site, with both workspaces listed.
func TestWorkspaceMenu(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()
	const (
		email    = "grace@example.com"
		password = "correct horse battery"
		betaTodo = "Only in Beta"
	)
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets", Domain: "acme.localhost", Name: "acme"})
	beta := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Beta Labs", Domain: "beta.localhost", Name: "beta"})
	u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password})
	testfactory.Member(ctx, t, a.acc, acme, u, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Member(ctx, t, a.acc, beta, u, nil)
	testfactory.Todo(ctx, t, a.db, beta, &testfactory.TodoOpts{CreatedBy: u.ID, Title: betaTodo})

	b.signIn(a, "acme.localhost", email, password)
	b.do("open the workspace menu",
		chromedp.Navigate(a.url("acme.localhost", "/")),
		chromedp.WaitVisible(chromedp.CSS(".ws-menu summary")),
		chromedp.Click(chromedp.CSS(".ws-menu summary")),
		chromedp.WaitVisible(chromedp.CSS(".ws-menu .menu-panel")),
	)
	b.shot("workspace-menu")
	b.do("open the account menu",
		chromedp.Click(chromedp.CSS(".ws-menu summary")),
		chromedp.Click(chromedp.CSS(".account-menu summary")),
		chromedp.WaitVisible(chromedp.CSS(".account-menu .menu-panel")),
	)
	b.shot("account-menu")

	b.do("choose Beta Labs in the workspace menu",
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
		chromedp.Navigate(a.url("acme.localhost", "/")),
		chromedp.Click(chromedp.CSS(".ws-menu summary")),
		chromedp.Click(chromedp.Search(`//details[contains(@class,"ws-menu")]//button[contains(., "Beta Labs")]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/token"] button[type="submit"]`)),
	)
	b.shot("switch-continue")
	if loc := b.location(); !strings.HasPrefix(loc, a.url("beta.localhost", "/login/token")) {
		t.Fatalf("the menu led to %s, want beta's one-time link", loc)
	}
	b.do("continue to Beta Labs",
		chromedp.Click(chromedp.CSS(`form[action="/login/token"] button[type="submit"]`)),
		chromedp.WaitVisible(todoXPath(betaTodo)),
	)
	b.shot("beta-after-switch")
	if got, want := b.location(), a.url("beta.localhost", "/"); got != want {
		t.Errorf("after switching the browser is at %s, want %s", got, want)
	}
	if header := b.text("header"); !strings.Contains(header, "Beta Labs") {
		t.Errorf("header %q: want Beta Labs", header)
	}

	// Back to acme: signed in there already, the link leads straight on.
	b.do("go back to Acme through the menu",
		chromedp.Click(chromedp.CSS(".ws-menu summary")),
		chromedp.Click(chromedp.Search(`//details[contains(@class,"ws-menu")]//button[contains(., "Acme Rockets")]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[contains(@class,"brand") and contains(., "Acme Rockets")]`)),
		chromedp.WaitVisible(chromedp.ID("title")),
	)
	if got, want := b.location(), a.url("acme.localhost", "/"); got != want {
		t.Errorf("back on acme at %s, want %s", got, want)
	}

	// All workspaces: the public site, signed in.
	b.do("open All workspaces",
		chromedp.Click(chromedp.CSS(".ws-menu summary")),
		chromedp.Click(chromedp.Search(`//details[contains(@class,"ws-menu")]//button[normalize-space(.)="All workspaces"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/token"] button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/login/token"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".ws-list")),
	)
	b.shot("public-after-switch")
	if got, want := b.location(), a.url("localhost", "/"); got != want {
		t.Errorf("All workspaces led to %s, want %s", got, want)
	}
	if list := b.text(".ws-list"); !strings.Contains(list, "Acme Rockets") || !strings.Contains(list, "Beta Labs") {
		t.Errorf("the public home lists %q", list)
	}
	if header := b.text("header"); !strings.Contains(header, email) {
		t.Errorf("the public site's header %q does not show %s signed in", header, email)
	}
}

// TestAdminThousandTenants: the platform admin with 1,000 tenants is a small page (under 200 KB)
// whose search box finds a tenant.
func TestAdminThousandTenants(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()
	const (
		email    = "root@example.com"
		password = "correct horse battery"
	)
	testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password, Superuser: true})
	testfactory.RegistryFleet(ctx, t, a.direct, 1000, &testfactory.RegistryFleetOpts{BaseDomain: "localhost", DesiredHash: a.def.TenantHash()})

	b.signIn(a, "localhost", email, password)
	b.visit("admin-1000", a.url("localhost", "/admin"), "table")
	size := run(b, "measure the HTML", chromedp.Evaluate[int](`document.documentElement.outerHTML.length`))
	t.Logf("the admin page with 1,000 tenants: %d characters of HTML", size)
	if size >= 200_000 {
		t.Errorf("the admin page is %d characters, want under 200 KB", size)
	}
	b.do("search for a tenant",
		chromedp.SendKeys(chromedp.ID("q"), "fleet_0642"),
		chromedp.Click(chromedp.CSS(`form[role="search"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("tenant-fleet_0642")),
	)
	b.shot("admin-search")
	if n := run(b, "count the rows", chromedp.Evaluate[int](`document.querySelectorAll("tr[id^=tenant-]").length`)); n != 1 {
		t.Errorf("the search lists %d tenants, want 1", n)
	}
	b.do("open a row's actions",
		chromedp.Click(chromedp.CSS("#tenant-fleet_0642 .row-menu summary")),
		chromedp.WaitVisible(chromedp.CSS("#tenant-fleet_0642 .row-menu .menu-panel")),
	)
	b.shot("admin-row-menu")
}
