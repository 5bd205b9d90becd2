package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/migrate"
)

// TestAdminFleet: with 1,000 tenants the admin page stays small (one page of 50, under 200 KB),
// its search finds a tenant by name or domain, its filters page in the database, and the
// schema state shown is the ledger's (the state filter's SQL agrees with migrate.SchemaState).
func TestAdminFleet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	testfactory.RegistryFleet(t.Context(), t, b.direct, 1000, &testfactory.RegistryFleetOpts{BaseDomain: testBase, DesiredHash: b.srv.def.TenantHash()})
	admin := b.browser(testBase)
	admin.login(b.root.Email)

	rec := admin.get("/admin")
	wantStatus(t, rec, http.StatusOK)
	size := rec.Body.Len()
	t.Logf("the admin page with 1,002 tenants: %d bytes", size)
	if size >= 200_000 {
		t.Errorf("the admin page is %d bytes, want under 200 KB", size)
	}
	doc := parseHTML(t, rec)
	rows := findAll(doc, func(n *nodeT) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "tenant-") })
	if len(rows) != adminPageSize {
		t.Fatalf("%d rows, want %d", len(rows), adminPageSize)
	}
	if got := texts(doc, byID("result-count")); len(got) != 1 || got[0] != "1–50 of 1002 tenants" {
		t.Errorf("result count %q", got)
	}
	if next := findAll(doc, func(n *nodeT) bool { return n.Data == "a" && attr(n, "rel") == "next" }); len(next) != 1 || attr(next[0], "href") != "/admin?page=2" {
		t.Fatalf("no next page link")
	}
	// The summary: every tenant counted once by status and once by state.
	legend := strings.Join(texts(doc, byClass("ul", "legend")), " ")
	for _, want := range []string{"944 active", "58 suspended", "current", "behind", "failed"} { // every 17th of 1,000 suspended
		if !strings.Contains(legend, want) {
			t.Errorf("summary legend %q lacks %q", legend, want)
		}
	}

	// The last page.
	doc = parseHTML(t, admin.get("/admin?page=21"))
	if got := texts(doc, byID("result-count")); len(got) != 1 || got[0] != "1001–1002 of 1002 tenants" {
		t.Errorf("last page: %q", got)
	}

	// Search by part of a name, of a domain; wildcards are literal.
	for _, q := range []string{"fleet_0777", "FLEET-0777." + testBase, "Fleet tenant 777"} {
		rec := admin.get("/admin?q=" + url.QueryEscape(q))
		doc := parseHTML(t, rec)
		if got := findAll(doc, byID("tenant-fleet_0777")); len(got) != 1 {
			t.Errorf("search %q does not find fleet_0777", q)
		}
		if rows := findAll(doc, func(n *nodeT) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "tenant-") }); len(rows) != 1 {
			t.Errorf("search %q: %d rows, want 1", q, len(rows))
		}
	}
	if got := findAll(parseHTML(t, admin.get("/admin?q=fleet%25")), func(n *nodeT) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "tenant-") }); len(got) != 0 {
		t.Errorf("%% is a wildcard in the search: %d rows", len(got))
	}

	// Each filter lists only what it says, and the states add up to the fleet.
	var sum int
	for _, state := range []string{migrate.StateCurrent, migrate.StateBehind, migrate.StateFailed} {
		n := 0
		for page := 1; ; page++ {
			doc := parseHTML(t, admin.get("/admin?state="+state+"&page="+strconv.Itoa(page)))
			rows := findAll(doc, func(n *nodeT) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "tenant-") })
			for _, row := range rows {
				cells := findAll(row, byClass("td", ""))
				if got := text(findAll(cells[4], byClass("span", "badge"))[0]); got != state {
					t.Fatalf("state=%s lists %s as %q", state, attr(row, "id"), got)
				}
			}
			n += len(rows)
			if len(rows) < adminPageSize {
				break
			}
		}
		if n == 0 {
			t.Errorf("no tenant is %s", state)
		}
		sum += n
	}
	if sum != 1002 {
		t.Errorf("the states count %d tenants, want 1002", sum)
	}
	doc = parseHTML(t, admin.get("/admin?status=suspended"))
	for _, row := range findAll(doc, func(n *nodeT) bool { return n.Data == "tr" && strings.HasPrefix(attr(n, "id"), "tenant-") }) {
		if !strings.Contains(text(findAll(row, byClass("td", ""))[1]), "suspended") {
			t.Fatalf("status=suspended lists %s", attr(row, "id"))
		}
	}

	// The ledger's truth: a tenant whose last migration failed shows failed, with the error.
	if _, err := b.db.Pool().Exec(t.Context(), "UPDATE public.schema_ledger SET last_error = 'column \"x\" does not exist', last_error_at = now() WHERE schema_name = 'first'"); err != nil {
		t.Fatal(err)
	}
	doc = parseHTML(t, admin.get("/admin?q=first"))
	row := findAll(doc, byID("tenant-first"))
	if len(row) != 1 {
		t.Fatal("no row for first")
	}
	if got := text(findAll(findAll(row[0], byClass("td", ""))[4], byClass("span", "badge"))[0]); got != migrate.StateFailed {
		t.Fatalf("first, whose ledger records a failure, shows %q", got)
	}
	if !strings.Contains(text(row[0]), `column "x" does not exist`) {
		t.Error("the failure's error is not shown")
	}
	if got := texts(parseHTML(t, admin.get("/admin")), byClass("ul", "events")); len(got) == 0 || !strings.Contains(got[0], "first") {
		t.Errorf("recent failures %q do not list first", got)
	}

	// An action comes back to the page it was taken on.
	wantRedirect(t, admin.post("/admin/tenants/fleet_0777/suspend", "back", "/admin?q=fleet_0777"), "/admin?q=fleet_0777")
	wantRedirect(t, admin.post("/admin/tenants/fleet_0777/resume", "back", "//evil.example/"), "/admin")
}

// BenchmarkAdminPage renders the platform admin's first page, and a search, with 1,000 tenants
// in the registry: what a superuser waits for (the handler and its three queries, in process).
//
//	go test ./web/ -run '^$' -bench BenchmarkAdminPage -benchtime 50x -count 5
func BenchmarkAdminPage(b *testing.B) {
	bd := setup(b)
	testfactory.RegistryFleet(b.Context(), b, bd.direct, 1000, &testfactory.RegistryFleetOpts{BaseDomain: testBase, DesiredHash: bd.srv.def.TenantHash()})
	admin := bd.browser(testBase)
	admin.login(bd.root.Email)
	for _, bc := range []struct{ name, path string }{{"first", "/admin"}, {"search", "/admin?q=fleet_07&state=current"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if rec := admin.get(bc.path); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
