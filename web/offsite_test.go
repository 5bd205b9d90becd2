package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/tenancy"
)

// TestOffSitePages: the pages of an unknown host (404) and of a suspended workspace (403) look
// like the product: their stylesheet is served on those hosts too, their links lead to the
// public site, and a suspended workspace's page tells its members what to do.
func TestOffSitePages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.db.SetStatus(t.Context(), b.second.Schema, tenancy.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host   string
		status int
		want   []string
	}{
		{"nowhere." + testBase, http.StatusNotFound, []string{"No workspace at this address", "/signup"}},
		{secondHost, http.StatusForbidden, []string{"This workspace is suspended", "“Second Team”", "Members: ask your workspace", "Your other workspaces"}},
	} {
		eventually(t, tc.host+" answers "+http.StatusText(tc.status), func() bool { return b.browser(tc.host).get("/").Code == tc.status })
		br := b.browser(tc.host)
		rec := br.get("/")
		wantStatus(t, rec, tc.status)
		body := rec.Body.String()
		for _, want := range tc.want {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the page lacks %q", tc.host, want)
			}
		}
		doc := parseHTML(t, rec)
		sheets := findAll(doc, func(n *nodeT) bool { return n.Data == "link" && attr(n, "rel") == "stylesheet" })
		if len(sheets) != 1 {
			t.Fatalf("%s: %d stylesheets", tc.host, len(sheets))
		}
		css := br.get(attr(sheets[0], "href"))
		wantStatus(t, css, http.StatusOK)
		if ct := css.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") || !strings.Contains(css.Body.String(), ".card") {
			t.Errorf("%s: the stylesheet is served as %q", tc.host, ct)
		}
		// Every link leaves for the public site (the skip link aside).
		for _, a := range findAll(doc, func(n *nodeT) bool { return n.Data == "a" }) {
			if href := attr(a, "href"); href != "#main" && !strings.HasPrefix(href, "http://"+testBase+"/") {
				t.Errorf("%s: link %q does not lead to the public site", tc.host, href)
			}
		}
		wantStatus(t, br.do(http.MethodPost, "/static/style.css", nil, nil), http.StatusMethodNotAllowed)
	}
}
