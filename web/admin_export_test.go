package web

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// TestAdminExport: the platform admin downloads a tenant's archive, which imports; nobody else
// can, and an unknown tenant is a 404 page, not an empty file.
func TestAdminExport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	testfactory.Todo(ctx, t, b.db, b.first, &testfactory.TodoOpts{Title: "exported", CreatedBy: b.alice.ID})
	admin := b.browser(testBase)
	admin.login(b.root.Email)

	links := findAll(parseHTML(t, admin.get("/admin")), func(n *html.Node) bool {
		return n.Data == "a" && attr(n, "href") == "/admin/tenants/first/export"
	})
	if len(links) != 1 || !strings.HasPrefix(text(links[0]), "Download export") {
		t.Fatalf("the admin page has %d export links for first", len(links))
	}

	rec := admin.get("/admin/tenants/first/export")
	wantStatus(t, rec, http.StatusOK)
	if got := rec.Header().Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename=first-\d{8}T\d{6}Z\.toodoo$`).MatchString(got) {
		t.Errorf("Content-Disposition = %q", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	res, err := b.db.Import(ctx, schemadef.MustDefault(), bytes.NewReader(rec.Body.Bytes()), tenancy.ImportParams{Name: "first_copy", Domain: "first-copy.example.test"})
	if err != nil {
		t.Fatalf("importing the download: %v", err)
	}
	if len(res.Tables) != 1 || res.Tables[0].Rows != 1 || len(res.Members) != 2 {
		t.Errorf("imported %+v", res)
	}

	wantStatus(t, admin.get("/admin/tenants/nope/export"), http.StatusNotFound)

	// Exports beyond maxExports wait for their turn: 503 with Retry-After, not another
	// connection taken from the pool.
	for range maxExports {
		b.srv.exports <- struct{}{}
	}
	rec = admin.get("/admin/tenants/first/export")
	wantStatus(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Disposition") != "" {
		t.Errorf("a refused export: headers %v", rec.Header())
	}
	for range maxExports {
		<-b.srv.exports
	}
	wantStatus(t, admin.get("/admin/tenants/first/export"), http.StatusOK)

	// The owner of first and a member of first are not platform admins.
	for _, email := range []string{b.alice.Email, b.dave.Email} {
		br := b.browser(testBase)
		br.login(email)
		rec := br.get("/admin/tenants/first/export")
		wantStatus(t, rec, http.StatusForbidden)
		if rec.Header().Get("Content-Disposition") != "" || bytes.HasPrefix(rec.Body.Bytes(), []byte{0x1f, 0x8b}) {
			t.Errorf("%s got an archive", email)
		}
	}
	// On a tenant's host there is no admin at all.
	wantStatus(t, b.browser(firstHost).get("/admin/tenants/first/export"), http.StatusNotFound)
}
