package schemadef_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/schemadef"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	def, err := schemadef.Default()
	if err != nil {
		t.Fatalf("the embedded schema.hcl does not load: %v", err)
	}
	tenant := schemadef.Script(def.TenantDDL())
	if !strings.Contains(tenant, `CREATE TABLE "todos"`) {
		t.Errorf("tenant DDL lacks an unqualified CREATE TABLE \"todos\":\n%s", tenant)
	}
	if strings.Contains(tenant, "public") && !strings.Contains(tenant, "public.users.id") {
		t.Errorf("tenant DDL refers to the shared schema (tenant schemas must be self-contained):\n%s", tenant)
	}
	if strings.Contains(tenant, "tenant_template") {
		t.Errorf("tenant DDL names the evaluation placeholder:\n%s", tenant)
	}
	shared := schemadef.Script(def.SharedDDL())
	for _, table := range []string{"tenants", "domains", "users", "memberships", "schema_ledger"} {
		if !strings.Contains(shared, `CREATE TABLE "public"."`+table+`"`) {
			t.Errorf("shared DDL lacks public.%s", table)
		}
	}
	// Loading twice renders the same DDL and the same hashes: the hash names the desired state.
	again, err := schemadef.Load(toodoo.SchemaHCL)
	if err != nil {
		t.Fatal(err)
	}
	if again.TenantHash() != def.TenantHash() || again.SharedHash() != def.SharedHash() {
		t.Errorf("hashes differ between two loads of the same file")
	}
}

func TestTenantEvaluatesName(t *testing.T) {
	t.Parallel()
	def := schemadef.MustDefault()
	s, err := def.Tenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "acme" {
		t.Errorf("Tenant(acme).Name = %q", s.Name)
	}
	if _, ok := s.Table("todos"); !ok {
		t.Errorf("Tenant(acme) has no todos table")
	}
	if _, err := def.Tenant("public"); err == nil {
		t.Errorf("Tenant(public) succeeded; the shared schema is not a tenant")
	}
}

func TestChangeChangesHash(t *testing.T) {
	t.Parallel()
	def := schemadef.MustDefault()
	changed, err := schemadef.Load(bytes.Replace(toodoo.SchemaHCL, []byte(`table "todos" {`), []byte("table \"todos\" {\n  column \"note\" {\n    type = text\n    null = true\n  }"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if changed.TenantHash() == def.TenantHash() {
		t.Errorf("adding a column did not change the tenant hash")
	}
	if changed.SharedHash() != def.SharedHash() {
		t.Errorf("a tenant-only change changed the shared hash")
	}
}

func TestLoadRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	for name, hcl := range map[string]string{
		"syntax":    `schema "public" {`,
		"no tenant": `schema "public" {}`,
	} {
		if _, err := schemadef.Load([]byte(hcl)); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}

// CreateTenantStatements quotes the name, scopes the template to it and leaves the path empty
// after.
func TestCreateTenantStatements(t *testing.T) {
	t.Parallel()
	def := schemadef.MustDefault()
	got := def.CreateTenantStatements(`we"ird`)
	want := append([]string{`CREATE SCHEMA "we""ird"`, `SET LOCAL search_path TO "we""ird"`}, def.TenantDDL()...)
	want = append(want, "SET LOCAL search_path TO ''")
	if !slices.Equal(got, want) {
		t.Errorf("CreateTenantStatements:\n%q\nwant:\n%q", got, want)
	}
}

// TestDefaultIsTheEvaluation: the pre-rendered definition Default uses (embedded_gen.go) is
// exactly what evaluating the embedded schema.hcl gives, and it is up to date (else every
// process evaluates the file at start: `go tool task generate`).
func TestDefaultIsTheEvaluation(t *testing.T) {
	def, err := schemadef.Default()
	if err != nil {
		t.Fatal(err)
	}
	want, err := schemadef.Load(toodoo.SchemaHCL)
	if err != nil {
		t.Fatal(err)
	}
	if def.SharedHash() != want.SharedHash() || def.TenantHash() != want.TenantHash() {
		t.Errorf("Default's hashes %s/%s, evaluation's %s/%s", def.SharedHash(), def.TenantHash(), want.SharedHash(), want.TenantHash())
	}
	if !slices.Equal(def.SharedDDL(), want.SharedDDL()) || !slices.Equal(def.TenantDDL(), want.TenantDDL()) {
		t.Error("Default's DDL differs from the evaluation's")
	}
	if got := string(schemadef.Generated(toodoo.SchemaHCL, want)); got != string(mustRead(t, "embedded_gen.go")) {
		t.Error("embedded_gen.go is not what schema.hcl gives: run `go tool task generate`")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
