package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/testfactory"
)

// eval runs a script in the page and returns its value.
func eval[T any](b *browser, what, js string) T {
	b.t.Helper()
	return run(b, what, chromedp.Evaluate[T](js))
}

// TestListInPlace drives the list as a person does, with the script: ticking item 23 of 31
// keeps the page where it was scrolled to and the focus on that checkbox; adding with Enter
// keeps the cursor in the field; deleting names the to-do and Undo brings it back, with its id;
// Edit renames in the row. Screenshots at desktop and phone widths.
func TestListInPlace(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()
	const email, password = "ada@acme.example", "correct horse battery"
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets", Domain: "acme.localhost", Name: "acme"})
	u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password})
	testfactory.Member(ctx, t, a.acc, acme, u, &testfactory.MemberOpts{Role: account.RoleOwner})

	// The empty list first: what to do next, and the team to invite.
	b.signIn(a, "acme.localhost", email, password)
	b.shot("empty-list")
	if empty := b.text("#todos-empty"); !strings.Contains(empty, "Invite your team") {
		t.Errorf("the empty list says %q, want an invitation to invite the team", empty)
	}

	for i := 1; i <= 31; i++ {
		testfactory.Todo(ctx, t, a.db, acme, &testfactory.TodoOpts{CreatedBy: u.ID, Title: fmt.Sprintf("Task number %02d", i)})
	}
	b.do("open the list of 31", chromedp.Navigate(a.url("acme.localhost", "/")), chromedp.WaitVisible(todoXPath("Task number 31")))
	b.shot("list-desktop")

	// Tick the 23rd row from the top, scrolled into the middle of the window.
	rowID := eval[string](b, "find row 23", `document.querySelectorAll("ul.todos li.todo")[22].id`)
	b.do("scroll to row 23 and focus its checkbox", chromedp.Evaluate[chromedp.Void](`(() => {
		const li = document.getElementById(`+fmt.Sprintf("%q", rowID)+`);
		li.scrollIntoView({block: "center"});
		li.querySelector(".check").focus({preventScroll: true});
	})()`))
	// The position once the page has settled (two frames in a row at the same place).
	before := run(b, "read the settled scroll position", chromedp.Evaluate[float64](`new Promise(done => {
		let last = -1;
		const check = () => { if (window.scrollY === last) done(last); else { last = window.scrollY; requestAnimationFrame(check); } };
		requestAnimationFrame(check);
	})`, chromedp.EvalAwaitPromise))
	b.do("watch the scroll", chromedp.Evaluate[chromedp.Void](`window.__scrolls = []; addEventListener("scroll", () => window.__scrolls.push(Math.round(performance.now()) + ":" + window.scrollY + ":" + (document.activeElement && document.activeElement.className)));`))
	if before < 100 {
		t.Fatalf("the page is scrolled only %vpx: the test needs a long list", before)
	}
	b.do("tick row 23 with the keyboard",
		chromedp.KeyEvent(" "),
		chromedp.WaitVisible(chromedp.CSS("#"+rowID+".done")),
	)
	if after := run(b, "read the scroll position after two frames", chromedp.Evaluate[float64](`new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(window.scrollY))))`, chromedp.EvalAwaitPromise)); after != before {
		t.Errorf("ticking scrolled the page from %v to %v; scrolls %v", before, after, eval[[]string](b, "scrolls", `window.__scrolls`))
	}
	if focus := eval[string](b, "read the focus", `(() => { const e = document.activeElement; return (e.closest("li") ? e.closest("li").id : "") + " " + e.className; })()`); focus != rowID+" check" {
		t.Errorf("after ticking the focus is on %q, want the checkbox of %s", focus, rowID)
	}
	if counts := b.text(`[data-count="done"]`); counts != "1" {
		t.Errorf("the Done count says %q after ticking one, want 1", counts)
	}
	b.shot("ticked-23") // after the measures: a full-page screenshot resizes the page and moves its scroll

	// Add with Enter: the cursor stays in the field, which is empty for the next one.
	b.do("add with Enter",
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
		chromedp.Focus(chromedp.ID("title")),
		chromedp.SendKeys(chromedp.ID("title"), "Call the printer\n"),
		chromedp.WaitVisible(todoXPath("Call the printer")),
	)
	b.shot("added-with-enter")
	if id := eval[string](b, "read the focus", `document.activeElement.id`); id != "title" {
		t.Errorf("after adding with Enter the focus is on %q, want the field", id)
	}
	if v := eval[string](b, "read the field", `document.getElementById("title").value`); v != "" {
		t.Errorf("the field still holds %q", v)
	}
	if titles := b.todoTitles(); len(titles) != 32 || titles[0] != "Call the printer" {
		t.Errorf("the list after adding: %d items, first %q", len(titles), titles[0])
	}
	b.do("add a second one with Enter",
		chromedp.SendKeys(chromedp.ID("title"), "Order paper\n"),
		chromedp.WaitVisible(todoXPath("Order paper")),
	)

	// Delete, then undo: the toast names the to-do; the row comes back with its id.
	victim := eval[string](b, "find Task 30's row", `[...document.querySelectorAll("ul.todos li.todo")].find(li => li.querySelector(".title").textContent === "Task number 30").id`)
	b.do("delete Task number 30",
		chromedp.Click(chromedp.CSS("#"+victim+` form[action$="/delete"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#toast form[action="/todos/undo"] button`)),
	)
	b.shot("deleted-with-undo")
	if msg := b.text("#toast"); !strings.Contains(msg, "Deleted “Task number 30”.") || !strings.Contains(msg, "Undo") {
		t.Errorf("the toast after deleting says %q", msg)
	}
	if n := eval[int](b, "look for the row", `document.querySelectorAll("#`+victim+`").length`); n != 0 {
		t.Fatal("the deleted row is still on the page")
	}
	b.do("undo",
		chromedp.Click(chromedp.CSS(`#toast form[action="/todos/undo"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#"+victim)),
	)
	b.shot("undone")
	if title := b.text("#" + victim + " .title"); title != "Task number 30" {
		t.Errorf("the restored row says %q", title)
	}
	// Ctrl+Z, with the focus where the delete left it (the next row's checkbox), undoes too.
	b.do("delete Task number 30 again and undo with Ctrl+Z",
		chromedp.Click(chromedp.CSS("#"+victim+` form[action$="/delete"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#toast form[action="/todos/undo"] button`)),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.dispatchEvent(new KeyboardEvent("keydown", {key: "z", ctrlKey: true, bubbles: true}))`),
		chromedp.WaitVisible(chromedp.CSS("#"+victim)),
	)
	b.do("reload after undo", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#"+victim)))
	if titles := b.todoTitles(); len(titles) != 33 {
		t.Errorf("after undo and reload the list has %d to-dos, want 33", len(titles))
	}

	// Rename in the row: Edit opens a field in place; Enter saves.
	b.do("edit the last row in place",
		chromedp.Click(chromedp.CSS(`ul.todos li.todo:last-child a[data-js="edit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.todos li.todo:last-child form.edit-inline input[name="title"]`)),
	)
	b.shot("inline-edit")
	if loc := b.location(); loc != a.url("acme.localhost", "/") {
		t.Errorf("Edit left the list for %s", loc)
	}
	b.do("type a new title and press Enter",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("form.edit-inline input[name=title]").value = ""`),
		chromedp.SendKeys(chromedp.CSS(`form.edit-inline input[name="title"]`), "Task number one\n"),
		chromedp.WaitVisible(todoXPath("Task number one")),
	)
	if n := eval[int](b, "count edit forms", `document.querySelectorAll("form.edit-inline").length`); n != 0 {
		t.Error("the edit field stays open after saving")
	}

	// Rows open and done are one height; the checkbox is centred on a one-line title.
	heights := eval[[]float64](b, "measure rows", `(() => {
		const open = document.querySelector("li.todo:not(.done)"), done = document.querySelector("li.todo.done");
		const c = open.querySelector(".check").getBoundingClientRect(), tt = open.querySelector(".title").getBoundingClientRect();
		return [open.getBoundingClientRect().height, done.getBoundingClientRect().height, (c.top + c.bottom) / 2, (tt.top + tt.bottom) / 2];
	})()`)
	if heights[0] != heights[1] {
		t.Errorf("an open row is %vpx tall, a done row %vpx", heights[0], heights[1])
	}
	if d := heights[2] - heights[3]; d > 2 || d < -2 {
		t.Errorf("the checkbox's centre is %vpx off the title's", d)
	}

	b.do("narrow to a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("title")))
	b.shot("list-phone") // shot fails the test if the page is wider than either screen
}

// TestTokenReload: creating a token redirects to the list, which shows the secret once with a
// Copy button; reloading creates no other token and no longer shows the secret.
func TestTokenReload(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()
	const email, password = "ada@acme.example", "correct horse battery"
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets", Domain: "acme.localhost", Name: "acme"})
	u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password})
	testfactory.Member(ctx, t, a.acc, acme, u, &testfactory.MemberOpts{Role: account.RoleOwner})
	b.signIn(a, "acme.localhost", email, password)

	b.do("create a token",
		chromedp.Navigate(a.url("acme.localhost", "/tokens")),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "backup script"),
		chromedp.Click(chromedp.CSS(`form[action="/tokens"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("new-token")),
		chromedp.WaitVisible(chromedp.CSS(`button[data-copy="new-token"]`)),
	)
	b.shot("token-created")
	if loc := b.location(); loc != a.url("acme.localhost", "/tokens") {
		t.Errorf("after creating a token the browser is at %s, want /tokens (a redirect)", loc)
	}
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("name")))
	b.shot("token-reloaded")
	if n := eval[int](b, "look for the secret", `document.querySelectorAll("#new-token").length`); n != 0 {
		t.Error("reloading shows the secret again")
	}
	tokens, err := a.acc.ListAPITokens(ctx, acme.ID, u.ID)
	if err != nil || len(tokens) != 1 {
		t.Errorf("%d tokens after creating one and reloading (%v), want 1", len(tokens), err)
	}

	// Revoking takes a second step.
	b.do("open the revoke step",
		chromedp.Click(chromedp.CSS(`details.confirm-step summary`)),
		chromedp.WaitVisible(chromedp.CSS(`details.confirm-step button.danger-solid`)),
	)
	b.shot("token-revoke-step")
	b.do("confirm",
		chromedp.Click(chromedp.CSS(`details.confirm-step button.danger-solid`)),
		chromedp.WaitVisible(chromedp.CSS(`.badge`)),
	)
	b.shot("token-revoked")
}

// TestMembersConfirm: the last owner's row says why it cannot be removed before any click;
// removing a member takes a second step; inviting a member again says it is a no-op; a pending
// invitation is listed and can be revoked.
func TestMembersConfirm(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()
	const email, password = "ada@acme.example", "correct horse battery"
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets", Domain: "acme.localhost", Name: "acme"})
	u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password})
	testfactory.Member(ctx, t, a.acc, acme, u, &testfactory.MemberOpts{Role: account.RoleOwner})
	bob := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: "bob@acme.example", Password: password})
	testfactory.Member(ctx, t, a.acc, acme, bob, &testfactory.MemberOpts{Role: account.RoleMember})
	b.signIn(a, "acme.localhost", email, password)

	b.do("open the members page", chromedp.Navigate(a.url("acme.localhost", "/members")), chromedp.WaitVisible(chromedp.ID("email")))
	b.shot("members")
	if note := b.text(fmt.Sprintf("#last-owner-%d", u.ID)); !strings.Contains(note, "only owner") {
		t.Errorf("the last owner's row says %q", note)
	}
	if disabled := eval[bool](b, "read the button", fmt.Sprintf(`document.querySelector('button[aria-describedby="last-owner-%d"]').disabled`, u.ID)); !disabled {
		t.Error("the last owner's Remove button can be clicked")
	}

	b.do("invite bob again",
		chromedp.SendKeys(chromedp.ID("email"), "bob@acme.example"),
		chromedp.Click(chromedp.CSS(`form[action="/members"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if msg := b.text(".flash"); !strings.Contains(msg, "bob@acme.example is already a member") {
		t.Errorf("inviting a member says %q", msg)
	}
	b.do("invite a newcomer",
		chromedp.SendKeys(chromedp.ID("email"), "newcomer@acme.example"),
		chromedp.Click(chromedp.CSS(`form[action="/members"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/members/invitations/revoke"] button`)),
	)
	b.shot("pending-invitation")
	b.do("revoke the invitation",
		chromedp.Click(chromedp.CSS(`form[action="/members/invitations/revoke"] button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"flash") and contains(.,"revoked")]`)),
	)
	if n := eval[int](b, "count invitations", `document.querySelectorAll('form[action="/members/invitations/revoke"]').length`); n != 0 {
		t.Errorf("%d invitations listed after revoking the only one", n)
	}

	sel := fmt.Sprintf(`#member-%d details.confirm-step`, bob.ID)
	b.do("open the second step of removing bob",
		chromedp.Click(chromedp.CSS(sel+" summary")),
		chromedp.WaitVisible(chromedp.CSS(sel+" button.danger-solid")),
	)
	b.shot("remove-step")
	if m, err := a.acc.ListMembers(ctx, acme.ID); err != nil || len(m) != 2 {
		t.Fatalf("members after the first step: %v, %v", m, err)
	}
	b.do("confirm", chromedp.Click(chromedp.CSS(sel+" button.danger-solid")), chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"flash") and contains(.,"Member removed")]`)))
	b.shot("removed")
	if m, err := a.acc.ListMembers(ctx, acme.ID); err != nil || len(m) != 1 {
		t.Errorf("members after confirming: %v, %v", m, err)
	}
	b.do("narrow to a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("email")))
	b.shot("members-phone")
}

// TestSignupErrorSummary: a sign-up with several mistakes (ann@x among them) comes back with
// every error at once, in a summary at the top that has the focus and links to each field.
func TestSignupErrorSummary(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	b.do("send a sign-up with four mistakes",
		chromedp.Navigate(a.url("localhost", "/signup")),
		chromedp.WaitVisible(chromedp.ID("subdomain")),
		chromedp.SendKeys(chromedp.ID("subdomain"), "ab"),
		chromedp.SendKeys(chromedp.ID("email"), "ann@x"),
		chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.Click(chromedp.CSS(`form[action="/signup"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("error-summary")),
	)
	b.shot("signup-errors")
	if id := eval[string](b, "read the focus", `document.activeElement.id`); id != "error-summary" {
		t.Errorf("after the refused sign-up the focus is on %q, want the error summary", id)
	}
	links := eval[[]string](b, "read the summary's links", `Array.from(document.querySelectorAll("#error-summary a"), a => a.getAttribute("href"))`)
	if want := []string{"#display_name", "#subdomain", "#email", "#password"}; strings.Join(links, " ") != strings.Join(want, " ") {
		t.Errorf("the summary links to %q, want %q", links, want)
	}
	if msg := b.text("#subdomain-error"); !strings.Contains(msg, "address") {
		t.Errorf("the address's error says %q, not the label's word", msg)
	}
	b.do("follow the summary's link to the e-mail field", chromedp.Click(chromedp.CSS(`#error-summary a[href="#email"]`)))
	if id := eval[string](b, "read the focus", `document.activeElement.id`); id != "email" {
		t.Errorf("the summary's link put the focus on %q, want the field", id)
	}
}

// colorScheme makes the page's prefers-color-scheme light or dark.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// contrastJS defines contrast(a, b), the WCAG contrast ratio of two computed CSS colours.
const contrastJS = `const lum = c => {
	const [r, g, b] = c.match(/[0-9.]+/g).slice(0, 3).map(v => { v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
	return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };`

// TestControlContrast: in light and dark mode, the borders of the list's field and checkboxes
// and the focus ring stand out from what surrounds them by 3:1 at least (WCAG 1.4.11).
func TestControlContrast(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	a := startApp(t)
	ctx := t.Context()
	const email, password = "ada@acme.example", "correct horse battery"
	acme := testfactory.Tenant(ctx, t, a.db, &testfactory.TenantOpts{Def: a.def, DisplayName: "Acme Rockets", Domain: "acme.localhost", Name: "acme"})
	u := testfactory.User(ctx, t, a.acc, &testfactory.UserOpts{Email: email, Password: password})
	testfactory.Member(ctx, t, a.acc, acme, u, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Todo(ctx, t, a.db, acme, &testfactory.TodoOpts{CreatedBy: u.ID, Title: "Water the plants"})
	b.signIn(a, "acme.localhost", email, password)
	for _, scheme := range []string{"light", "dark"} {
		b.do("switch to "+scheme, colorScheme(scheme), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("title")))
		b.do("focus the field", chromedp.Focus(chromedp.ID("title")))
		b.shot("contrast-" + scheme)
		ratios := eval[map[string]float64](b, "measure", "(() => {"+contrastJS+`
			const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
			const page = css("body", "backgroundColor"), card = css("ul.todos", "backgroundColor");
			return {
				"field border / field": contrast(css("#title", "borderTopColor"), css("#title", "backgroundColor")),
				"field border / page": contrast(css("#title", "borderTopColor"), page),
				"checkbox border / list": contrast(css("li.todo .check", "borderTopColor"), card),
				"focus ring / page": contrast(css("#title", "outlineColor"), page),
			};
		})()`)
		t.Logf("%s mode: %v", scheme, ratios)
		for what, ratio := range ratios {
			if ratio < 3 {
				t.Errorf("%s mode: %s contrast %.2f:1, want 3:1 at least", scheme, what, ratio)
			}
		}
		if css := eval[string](b, "read the outline", `getComputedStyle(document.getElementById("title")).outlineStyle`); css == "none" {
			t.Errorf("%s mode: the focused field has no outline", scheme)
		}
	}
}
