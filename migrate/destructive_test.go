package migrate

import (
	"slices"
	"testing"

	"ariga.io/atlas/sql/schema"
)

func col(t schema.Type) *schema.ColumnType { return &schema.ColumnType{Type: t} }

func TestWidens(t *testing.T) {
	t.Parallel()
	p := func(n int) *int { return &n }
	for _, test := range []struct {
		name     string
		from, to schema.Type
		want     bool
	}{
		{"int to bigint", &schema.IntegerType{T: "integer"}, &schema.IntegerType{T: "bigint"}, true},
		{"bigint to int", &schema.IntegerType{T: "bigint"}, &schema.IntegerType{T: "integer"}, false},
		{"smallint to int", &schema.IntegerType{T: "smallint"}, &schema.IntegerType{T: "int4"}, true},
		{"int to numeric(12,2)", &schema.IntegerType{T: "integer"}, &schema.DecimalType{T: "numeric", Precision: 12, Scale: 2}, true},
		{"bigint to numeric(12,2)", &schema.IntegerType{T: "bigint"}, &schema.DecimalType{T: "numeric", Precision: 12, Scale: 2}, false},
		{"int to text", &schema.IntegerType{T: "integer"}, &schema.StringType{T: "text"}, false},
		{"varchar(10) to varchar(20)", &schema.StringType{T: "character varying", Size: 10}, &schema.StringType{T: "varchar", Size: 20}, true},
		{"varchar(20) to varchar(10)", &schema.StringType{T: "varchar", Size: 20}, &schema.StringType{T: "varchar", Size: 10}, false},
		{"varchar(10) to text", &schema.StringType{T: "varchar", Size: 10}, &schema.StringType{T: "text"}, true},
		{"varchar to varchar(10)", &schema.StringType{T: "varchar"}, &schema.StringType{T: "varchar", Size: 10}, false},
		{"text to varchar(10)", &schema.StringType{T: "text"}, &schema.StringType{T: "varchar", Size: 10}, false},
		{"numeric(10,2) to numeric(12,2)", &schema.DecimalType{T: "numeric", Precision: 10, Scale: 2}, &schema.DecimalType{T: "numeric", Precision: 12, Scale: 2}, true},
		{"numeric(10,2) to numeric(10,3)", &schema.DecimalType{T: "numeric", Precision: 10, Scale: 2}, &schema.DecimalType{T: "numeric", Precision: 10, Scale: 3}, false},
		{"numeric(10,2) to numeric", &schema.DecimalType{T: "numeric", Precision: 10, Scale: 2}, &schema.DecimalType{T: "numeric"}, true},
		{"real to double", &schema.FloatType{T: "real"}, &schema.FloatType{T: "double precision"}, true},
		{"double to real", &schema.FloatType{T: "double precision"}, &schema.FloatType{T: "real"}, false},
		{"timestamptz(3) to timestamptz", &schema.TimeType{T: "timestamptz", Precision: p(3)}, &schema.TimeType{T: "timestamptz"}, true},
		{"timestamptz to timestamptz(3)", &schema.TimeType{T: "timestamptz"}, &schema.TimeType{T: "timestamptz", Precision: p(3)}, false},
		{"timestamp to timestamptz", &schema.TimeType{T: "timestamp"}, &schema.TimeType{T: "timestamptz"}, false},
		{"bool to int", &schema.BoolType{T: "boolean"}, &schema.IntegerType{T: "integer"}, false},
	} {
		if got := widens(col(test.from), col(test.to)); got != test.want {
			t.Errorf("%s: widens = %t, want %t", test.name, got, test.want)
		}
	}
}

func TestDestructive(t *testing.T) {
	t.Parallel()
	todos := schema.NewTable("todos")
	changes := []schema.Change{
		&schema.AddTable{T: schema.NewTable("new")},
		&schema.DropTable{T: schema.NewTable("old")},
		&schema.ModifyTable{T: todos, Changes: []schema.Change{
			&schema.AddColumn{C: schema.NewColumn("a")},
			&schema.DropColumn{C: schema.NewColumn("b")},
			&schema.ModifyColumn{
				From:   &schema.Column{Name: "n", Type: col(&schema.IntegerType{T: "bigint"})},
				To:     &schema.Column{Name: "n", Type: col(&schema.IntegerType{T: "integer"})},
				Change: schema.ChangeType,
			},
			&schema.ModifyColumn{
				From:   &schema.Column{Name: "w", Type: col(&schema.IntegerType{T: "integer"})},
				To:     &schema.Column{Name: "w", Type: col(&schema.IntegerType{T: "bigint"})},
				Change: schema.ChangeType,
			},
			&schema.ModifyColumn{
				From:   &schema.Column{Name: "c", Type: col(&schema.IntegerType{T: "bigint"})},
				To:     &schema.Column{Name: "c", Type: col(&schema.IntegerType{T: "integer"})},
				Change: schema.ChangeComment,
			},
			&schema.DropIndex{I: schema.NewIndex("i")},
		}},
	}
	want := []string{"drop table old", "drop column todos.b", "change type of todos.n from bigint to integer"}
	if got := destructive(changes); !slices.Equal(got, want) {
		t.Errorf("destructive = %q, want %q", got, want)
	}
}

// breaking: what only adds is additive; everything else is breaking, each change described.
func TestBreaking(t *testing.T) {
	t.Parallel()
	todos := schema.NewTable("todos")
	nullable := &schema.Column{Name: "note", Type: &schema.ColumnType{Type: &schema.StringType{T: "text"}, Null: true}}
	defaulted := &schema.Column{Name: "rank", Type: col(&schema.IntegerType{T: "integer"}), Default: &schema.RawExpr{X: "0"}}
	required := &schema.Column{Name: "rank", Type: col(&schema.IntegerType{T: "integer"})}
	modify := func(cs ...schema.Change) []schema.Change {
		return []schema.Change{&schema.ModifyTable{T: todos, Changes: cs}}
	}
	for _, test := range []struct {
		name    string
		changes []schema.Change
		want    []string
	}{
		{"new table", []schema.Change{&schema.AddTable{T: schema.NewTable("tags")}}, nil},
		{"nullable column", modify(&schema.AddColumn{C: nullable}), nil},
		{"column with a default", modify(&schema.AddColumn{C: defaulted}), nil},
		{"plain index", modify(&schema.AddIndex{I: &schema.Index{Name: "todos_note"}}), nil},
		{"comment", modify(&schema.ModifyAttr{From: &schema.Comment{Text: "a"}, To: &schema.Comment{Text: "b"}}), nil},
		{"NOT NULL column without a default", modify(&schema.AddColumn{C: required}), []string{"add column todos.rank NOT NULL without a default"}},
		{"unique index", modify(&schema.AddIndex{I: &schema.Index{Name: "todos_note", Unique: true}}), []string{"add unique index todos_note on todos"}},
		{"dropped column", modify(&schema.DropColumn{C: nullable}), []string{"drop column todos.note"}},
		{"changed column", modify(&schema.ModifyColumn{From: nullable, To: nullable, Change: schema.ChangeNull}), []string{"change column todos.note"}},
		{"check", modify(&schema.AddCheck{C: &schema.Check{Name: "rank_positive", Expr: "rank > 0"}}), []string{"add check rank_positive on todos"}},
		{"dropped table", []schema.Change{&schema.DropTable{T: todos}}, []string{"drop table todos"}},
	} {
		if got := breaking(test.changes); !slices.Equal(got, test.want) {
			t.Errorf("%s: breaking = %q, want %q", test.name, got, test.want)
		}
	}
}
