package web

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
	"golang.org/x/net/html"
)

// withTodoColumns returns the built-in schema.hcl with HCL column blocks added to the tenant
// table todos: another release's schema, as migrate's tests build them.
func withTodoColumns(t *testing.T, blocks string) *schemadef.Definition {
	t.Helper()
	const anchor = `  column "completed_at" {`
	if bytes.Count(toodoo.SchemaHCL, []byte(anchor)) != 1 {
		t.Fatalf("schema.hcl no longer has exactly one %q: update withTodoColumns", anchor)
	}
	def, err := schemadef.Load(bytes.Replace(toodoo.SchemaHCL, []byte(anchor), []byte(blocks+anchor), 1))
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// The schema gate, with three releases of schema.hcl: v0 (the built-in one), v1 (v0 plus a
// nullable column: additive) and v2 (v1 plus a NOT NULL column without a default: breaking, not
// destructive). A server is built for one of them (its def); tenants are migrated one by one.
func TestSchemaGate(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	v0 := schemadef.MustDefault()
	note := "  column \"gate_note\" {\n    type = text\n    null = true\n  }\n"
	v1 := withTodoColumns(t, note)
	v2 := withTodoColumns(t, note+"  column \"gate_rank\" {\n    type = integer\n    null = false\n  }\n")
	server := func(def *schemadef.Definition) *Server {
		srv := b.newServer()
		srv.def = def
		return srv
	}
	migrateTenant := func(def *schemadef.Definition, name string, opts migrate.Options) error {
		opts.Tenants = []string{name}
		_, err := migrate.Run(ctx, b.pooled, def, opts, nil)
		return err
	}
	// Signed-in browsers (sessions are rows, so their cookies work on every server).
	alice := b.browser(firstHost)
	alice.login("alice@example.com")
	bob := b.browser(secondHost)
	bob.login("bob@example.com")
	on := func(br *browser, srv *Server) *browser {
		c := *br
		c.srv = srv
		return &c
	}
	served := func(t *testing.T, br *browser, what string) {
		t.Helper()
		if rec := br.get("/"); rec.Code != http.StatusOK {
			t.Errorf("%s: page status %d, want 200\n%s", what, rec.Code, rec.Body)
		}
		if rec := br.api(http.MethodGet, "/api/v1/todos", "", ""); rec.Code != http.StatusOK {
			t.Errorf("%s: API status %d, want 200\n%s", what, rec.Code, rec.Body)
		}
	}
	gated := func(t *testing.T, br *browser, what string) {
		t.Helper()
		rec := br.get("/")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("%s: page status %d, Retry-After %q; want 503 with Retry-After\n%s", what, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if h := texts(parseHTML(t, rec), func(n *html.Node) bool { return n.Data == "h1" }); len(h) != 1 || h[0] != "This workspace is being upgraded" {
			t.Errorf("%s: maintenance page headings %q", what, h)
		}
		rec = br.api(http.MethodGet, "/api/v1/todos", "", "")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: API status %d, Retry-After %q, Content-Type %q; want 503 problem+json with Retry-After", what, rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"))
		}
		if p := problemOf(t, rec); p.Code != toodoo.EUNAVAILABLE {
			t.Errorf("%s: problem code %q, want %q", what, p.Code, toodoo.EUNAVAILABLE)
		}
	}
	ledger := func(name string) tenancy.LedgerState {
		t.Helper()
		hosts, err := b.db.Hosts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range hosts {
			if tn.Schema == name {
				return tn.Ledger
			}
		}
		t.Fatalf("no tenant %s in the host map", name)
		return tenancy.LedgerState{}
	}
	// waitLedger waits for srv's host map to carry the tenant's applied hash: the gate's state
	// follows a migration within the host map's staleness bound (eventually's deadline is twice it).
	waitLedger := func(srv *Server, host, hash string) {
		t.Helper()
		eventually(t, host+" at "+hash+" in the host map", func() bool {
			srv.hosts.mu.RLock()
			defer srv.hosts.mu.RUnlock()
			return srv.hosts.hosts[host].Ledger.AppliedHash == hash
		})
	}

	old := server(v0)
	served(t, on(alice, old), "v0 code, tenant at v0")

	// Expand: first goes to v1 (additive), second stays at v0.
	if err := migrateTenant(v1, "first", migrate.Options{}); err != nil {
		t.Fatalf("additive migration: %v", err)
	}
	if got, want := ledger("first"), (tenancy.LedgerState{AppliedHash: v1.TenantHash(), PreviousHash: v0.TenantHash(), ChangeClass: tenancy.ChangeAdditive}); got != want {
		t.Errorf("first's ledger %+v, want %+v", got, want)
	}
	new1 := server(v1)
	waitLedger(old, firstHost, v1.TenantHash())
	served(t, on(alice, old), "v0 code, tenant ahead by an additive change")
	served(t, on(alice, new1), "v1 code, tenant at v1")
	served(t, on(bob, new1), "v1 code, tenant behind by an additive change")

	// A breaking change is refused without --allow-breaking, with one line that says so.
	err := migrateTenant(v2, "first", migrate.Options{})
	if !errors.Is(err, migrate.ErrIncomplete) {
		t.Fatalf("breaking migration without AllowBreaking: err %v, want ErrIncomplete", err)
	}
	var lastError string
	if err := b.db.Pool().QueryRow(ctx, `SELECT coalesce(last_error, '') FROM public.schema_ledger WHERE schema_name = 'first'`).Scan(&lastError); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lastError, "breaking change refused (add column todos.gate_rank NOT NULL without a default)") ||
		!strings.Contains(lastError, "--allow-breaking") || strings.Contains(lastError, "\n") {
		t.Errorf("refusal recorded as %q", lastError)
	}
	if got := ledger("first").AppliedHash; got != v1.TenantHash() {
		t.Errorf("first moved to %s although the change was refused", got)
	}

	// With it, first goes to v2 and the ledger says breaking; second catches up to v1.
	if err := migrateTenant(v2, "first", migrate.Options{AllowBreaking: true}); err != nil {
		t.Fatalf("breaking migration with AllowBreaking: %v", err)
	}
	if err := migrateTenant(v1, "second", migrate.Options{}); err != nil {
		t.Fatalf("second to v1: %v", err)
	}
	if got, want := ledger("first"), (tenancy.LedgerState{AppliedHash: v2.TenantHash(), PreviousHash: v1.TenantHash(), ChangeClass: tenancy.ChangeBreaking}); got != want {
		t.Errorf("first's ledger %+v, want %+v", got, want)
	}
	new2 := server(v2)
	waitLedger(new1, firstHost, v2.TenantHash())
	waitLedger(new1, secondHost, v1.TenantHash())
	served(t, on(alice, new2), "v2 code, tenant at v2")
	gated(t, on(bob, new2), "v2 code, tenant behind by a breaking change")
	gated(t, on(alice, new1), "v1 code, tenant ahead by a breaking change")
	gated(t, on(alice, old), "v0 code, tenant two steps ahead")
	served(t, on(bob, new1), "v1 code, tenant at v1")

	// After migrating second, v2 code serves it again once its host map follows.
	if err := migrateTenant(v2, "second", migrate.Options{AllowBreaking: true}); err != nil {
		t.Fatalf("second to v2: %v", err)
	}
	eventually(t, "v2 code serves second after its migration", func() bool {
		return on(bob, new2).get("/").Code == http.StatusOK
	})
	served(t, on(bob, new2), "v2 code, tenant migrated to v2")
}

// schemaServes, case by case.
func TestSchemaServes(t *testing.T) {
	known := map[[2]string]string{{"h0", "h1"}: tenancy.ChangeAdditive, {"h1", "h2"}: tenancy.ChangeBreaking}
	transition := func(from, to string) string { return known[[2]string{from, to}] }
	for _, test := range []struct {
		l     tenancy.LedgerState
		code  string
		serve bool
	}{
		{tenancy.LedgerState{AppliedHash: "h1"}, "h1", true},
		{tenancy.LedgerState{}, "h1", false}, // no ledger row
		{tenancy.LedgerState{AppliedHash: "h1", PreviousHash: "h0", ChangeClass: tenancy.ChangeAdditive}, "h0", true},  // ahead, additive
		{tenancy.LedgerState{AppliedHash: "h2", PreviousHash: "h1", ChangeClass: tenancy.ChangeBreaking}, "h1", false}, // ahead, breaking
		{tenancy.LedgerState{AppliedHash: "h2", PreviousHash: "h1", ChangeClass: ""}, "h1", false},                     // ahead, class unknown
		{tenancy.LedgerState{AppliedHash: "h2", PreviousHash: "h1", ChangeClass: tenancy.ChangeAdditive}, "h0", false}, // two steps ahead
		{tenancy.LedgerState{AppliedHash: "h0"}, "h1", true},                                                           // behind, additive
		{tenancy.LedgerState{AppliedHash: "h1"}, "h2", false},                                                          // behind, breaking
		{tenancy.LedgerState{AppliedHash: "h0"}, "h2", false},                                                          // two steps behind
	} {
		if got, why := schemaServes(test.l, test.code, transition); got != test.serve {
			t.Errorf("schemaServes(%+v, %s) = %t (%s), want %t", test.l, test.code, got, why, test.serve)
		}
	}
}
