package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
)

// Viewports every page is looked at in: a desktop window and a phone (an iPhone 14's CSS
// pixels).
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// visit opens url at the desktop width and at the phone's, saves a screenshot of each as
// name-1280 and name-390, and reports a page wider than either viewport (sideways scrolling).
// ready (CSS) is what shows when the page is there.
func (b *browser) visit(name, url, ready string) {
	b.t.Helper()
	b.do("open "+name+" at "+fmt.Sprint(desktopWidth)+"px",
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(ready)),
	)
	b.shot(name + "-1280")
	if w := b.pageWidth(); w > desktopWidth {
		b.t.Errorf("%s at %dpx is %dpx wide: it scrolls sideways", name, desktopWidth, w)
	}
	b.do("open "+name+" at "+fmt.Sprint(phoneWidth)+"px",
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(ready)),
	)
	b.shot(name + "-390")
	if w := b.pageWidth(); w > phoneWidth {
		b.t.Errorf("%s at %dpx is %dpx wide: it scrolls sideways", name, phoneWidth, w)
	}
	b.do("back to the desktop width", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// pageWidth is how wide the page's content is (more than the viewport: it scrolls sideways).
func (b *browser) pageWidth() int {
	b.t.Helper()
	return run(b, "measure the page", chromedp.Evaluate[int](`Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`))
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
	b.visit("public-password", a.url("localhost", "/password"), main)

	// Signed in on a workspace.
	b.signIn(a, "acme.localhost", email, password)
	b.visit("todos", a.url("acme.localhost", "/"), "#title")
	b.visit("todo-edit", a.url("acme.localhost", fmt.Sprintf("/todos/%d/edit", first)), main)
	b.visit("members", a.url("acme.localhost", "/members"), main)
	b.visit("tokens", a.url("acme.localhost", "/tokens"), main)
	b.visit("password", a.url("acme.localhost", "/password"), main)
}
