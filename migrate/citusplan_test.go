package migrate

import (
	"slices"
	"testing"

	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
)

func TestSplitAlters(t *testing.T) {
	t.Parallel()
	for _, test := range []struct {
		name string
		in   []string
		want []string
	}{
		{"one subcommand stays", []string{`ALTER TABLE "todos" ADD COLUMN "p" integer`}, []string{`ALTER TABLE "todos" ADD COLUMN "p" integer`}},
		{"other statements stay", []string{`CREATE INDEX "i" ON "todos" ("a", "b")`, `COMMENT ON TABLE "todos" IS 'a, b'`},
			[]string{`CREATE INDEX "i" ON "todos" ("a", "b")`, `COMMENT ON TABLE "todos" IS 'a, b'`}},
		{"added columns before constraints",
			[]string{`ALTER TABLE "todos" ADD CONSTRAINT "c" CHECK (p IN (1, 2)), ADD COLUMN "p" integer NOT NULL DEFAULT 0`},
			[]string{`ALTER TABLE "todos" ADD COLUMN "p" integer NOT NULL DEFAULT 0`, `ALTER TABLE "todos" ADD CONSTRAINT "c" CHECK (p IN (1, 2))`}},
		{"PostgreSQL's passes",
			[]string{`ALTER TABLE "public"."we""ird" ALTER COLUMN "a" SET DEFAULT 'x,y', ADD COLUMN "b" numeric(10,2), DROP CONSTRAINT "c", ALTER COLUMN "d" TYPE bigint, ADD CONSTRAINT "c" CHECK (b > 0), ADD COLUMN "e" integer[] DEFAULT ARRAY[1,2]`},
			[]string{
				`ALTER TABLE "public"."we""ird" DROP CONSTRAINT "c"`,
				`ALTER TABLE "public"."we""ird" ALTER COLUMN "d" TYPE bigint`,
				`ALTER TABLE "public"."we""ird" ADD COLUMN "b" numeric(10,2)`,
				`ALTER TABLE "public"."we""ird" ADD COLUMN "e" integer[] DEFAULT ARRAY[1,2]`,
				`ALTER TABLE "public"."we""ird" ALTER COLUMN "a" SET DEFAULT 'x,y'`,
				`ALTER TABLE "public"."we""ird" ADD CONSTRAINT "c" CHECK (b > 0)`,
			}},
		{"unbalanced is left whole", []string{`ALTER TABLE t ADD COLUMN a text DEFAULT 'x, ADD COLUMN b int`}, []string{`ALTER TABLE t ADD COLUMN a text DEFAULT 'x, ADD COLUMN b int`}},
	} {
		if got := splitAlters(test.in); !slices.Equal(got, test.want) {
			t.Errorf("%s: splitAlters(%q)\n = %q\nwant %q", test.name, test.in, got, test.want)
		}
	}
}

func TestCitusUnsupported(t *testing.T) {
	t.Parallel()
	todos := schema.NewTable("todos")
	intCol := func(name string, attrs ...schema.Attr) *schema.Column {
		return &schema.Column{Name: name, Type: &schema.ColumnType{Type: &schema.IntegerType{T: "bigint"}}, Attrs: attrs}
	}
	identity := &postgres.Identity{Generation: "BY DEFAULT"}
	serial := &schema.Column{Name: "s", Type: &schema.ColumnType{Type: &postgres.SerialType{T: "bigserial"}}}
	withNextval := intCol("n")
	withNextval.Default = &schema.RawExpr{X: "nextval('seq'::regclass)"}
	plain := intCol("p")
	plain.Default = &schema.Literal{V: "0"}
	modify := func(changes ...schema.Change) []schema.Change {
		return []schema.Change{&schema.ModifyTable{T: todos, Changes: changes}}
	}
	for _, test := range []struct {
		name    string
		changes []schema.Change
		want    []string
	}{
		{"plain column", modify(&schema.AddColumn{C: plain}), nil},
		{"new table with identity", []schema.Change{&schema.AddTable{T: schema.NewTable("t").AddColumns(intCol("id", identity))}}, nil},
		{"identity column", modify(&schema.AddColumn{C: intCol("i", identity)}), []string{"add identity column todos.i"}},
		{"serial column", modify(&schema.AddColumn{C: serial}), []string{"add serial column todos.s"}},
		{"nextval default", modify(&schema.AddColumn{C: withNextval}), []string{"add nextval() default column todos.n"}},
		{"set generated", modify(&schema.ModifyColumn{From: intCol("id", &postgres.Identity{Generation: "ALWAYS"}), To: intCol("id", identity), Change: schema.ChangeAttr}),
			[]string{"change the identity of column todos.id"}},
		{"identity added", modify(&schema.ModifyColumn{From: intCol("id"), To: intCol("id", identity), Change: schema.ChangeAttr}),
			[]string{"change the identity of column todos.id"}},
		{"identity type", modify(&schema.ModifyColumn{From: intCol("id", identity), To: intCol("id", identity), Change: schema.ChangeType}),
			[]string{"change the type of identity column todos.id"}},
		{"to serial", modify(&schema.ModifyColumn{From: intCol("s"), To: serial, Change: schema.ChangeType}), []string{"make column todos.s serial"}},
		{"not null on identity", modify(&schema.ModifyColumn{From: intCol("id", identity), To: intCol("id", identity), Change: schema.ChangeNull}), nil},
	} {
		if got := citusUnsupported(test.changes); !slices.Equal(got, test.want) {
			t.Errorf("%s: citusUnsupported = %q, want %q", test.name, got, test.want)
		}
	}
}
