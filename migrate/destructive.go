package migrate

import (
	"fmt"

	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
)

// destructive describes the changes that can lose data: dropping a schema, a table or a column
// (Atlas's own "destructive" analyzer, sqlcheck/destructive, flags the same three, but it works
// on migration files rather than on a diff), and changing a column's type to one that may not
// hold every value of the old one. A type change counts as narrowing unless it is known to be
// lossless (see widens), so an unusual conversion is refused rather than guessed at.
func destructive(changes []schema.Change) []string {
	var out []string
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.DropSchema:
			out = append(out, fmt.Sprintf("drop schema %s", c.S.Name))
		case *schema.DropTable:
			out = append(out, fmt.Sprintf("drop table %s", c.T.Name))
		case *schema.ModifyTable:
			for _, tc := range c.Changes {
				switch tc := tc.(type) {
				case *schema.DropColumn:
					out = append(out, fmt.Sprintf("drop column %s.%s", c.T.Name, tc.C.Name))
				case *schema.ModifyColumn:
					if tc.Change.Is(schema.ChangeType) && !widens(tc.From.Type, tc.To.Type) {
						out = append(out, fmt.Sprintf("change type of %s.%s from %s to %s", c.T.Name, tc.To.Name, typeName(tc.From.Type), typeName(tc.To.Type)))
					}
				}
			}
		}
	}
	return out
}

// widens reports whether every value of a column of type from fits a column of type to unchanged.
func widens(from, to *schema.ColumnType) bool {
	if from == nil || to == nil {
		return false
	}
	switch f := from.Type.(type) {
	case *schema.IntegerType:
		switch t := to.Type.(type) {
		case *schema.IntegerType:
			return intRank(f.T) > 0 && intRank(f.T) <= intRank(t.T)
		case *schema.DecimalType:
			return t.Precision == 0 || t.Precision-t.Scale >= intDigits(f.T)
		}
	case *schema.StringType:
		t, ok := to.Type.(*schema.StringType)
		if !ok {
			return false
		}
		switch ft, tt := stringKind(f.T), stringKind(t.T); {
		case tt == "text":
			return ft != ""
		case tt == "varchar" && (ft == "varchar" || ft == "char"):
			return t.Size == 0 || (f.Size != 0 && f.Size <= t.Size)
		}
	case *schema.DecimalType:
		t, ok := to.Type.(*schema.DecimalType)
		if !ok {
			return false
		}
		if t.Precision == 0 {
			return true // unconstrained numeric holds any numeric
		}
		return f.Precision != 0 && t.Scale >= f.Scale && t.Precision-t.Scale >= f.Precision-f.Scale
	case *schema.FloatType:
		t, ok := to.Type.(*schema.FloatType)
		return ok && floatBits(f) <= floatBits(t)
	case *schema.TimeType:
		t, ok := to.Type.(*schema.TimeType)
		// Only more fractional digits for the same type (timestamp to timestamptz changes meaning).
		return ok && f.T == t.T && (t.Precision == nil || (f.Precision != nil && *f.Precision <= *t.Precision))
	}
	return false
}

func intRank(t string) int {
	switch t {
	case "smallint", "int2", "smallserial", "serial2":
		return 1
	case "integer", "int", "int4", "serial", "serial4":
		return 2
	case "bigint", "int8", "bigserial", "serial8":
		return 3
	}
	return 0
}

func intDigits(t string) int {
	switch intRank(t) {
	case 1:
		return 5
	case 2:
		return 10
	}
	return 19
}

func stringKind(t string) string {
	switch t {
	case "text":
		return "text"
	case "character varying", "varchar":
		return "varchar"
	case "character", "char", "bpchar":
		return "char"
	}
	return ""
}

func floatBits(f *schema.FloatType) int {
	switch f.T {
	case "real", "float4":
		return 24
	case "double precision", "float8":
		return 53
	}
	if f.Precision > 0 {
		return f.Precision
	}
	return 53
}

func typeName(ct *schema.ColumnType) string {
	if ct == nil || ct.Type == nil {
		return "?"
	}
	if s, err := postgres.FormatType(ct.Type); err == nil {
		return s
	}
	return ct.Raw
}

// Change classes recorded in the ledger (the same words as tenancy.ChangeAdditive and
// tenancy.ChangeBreaking, which the host map reads).
const (
	ClassAdditive = "additive"
	ClassBreaking = "breaking"
)

// breaking describes the changes after which code built for the schema before may stop working:
// everything but what only adds. Additive is a new schema or table, a new column that is
// nullable or has a default (old code's INSERTs leave it out), a new index that is not unique,
// and comments. The rest is breaking, conservatively: dropping or renaming anything, a new NOT
// NULL column without a default, any change of a column (type, nullability, default: a column
// that may become NULL breaks old code's scans; a new type changes the result type of its
// prepared statements), a new unique index, check or foreign key (old code may write rows they
// refuse), a dropped or changed index or constraint (ON CONFLICT may name it), and any change
// this function does not know. Every destructive change (see destructive) is breaking.
func breaking(changes []schema.Change) []string {
	var out []string
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.AddSchema, *schema.AddTable, *schema.ModifySchema:
		case *schema.ModifyTable:
			for _, tc := range c.Changes {
				if d := breakingTableChange(c.T.Name, tc); d != "" {
					out = append(out, d)
				}
			}
		case *schema.DropSchema:
			out = append(out, fmt.Sprintf("drop schema %s", c.S.Name))
		case *schema.DropTable:
			out = append(out, fmt.Sprintf("drop table %s", c.T.Name))
		case *schema.RenameTable:
			out = append(out, fmt.Sprintf("rename table %s to %s", c.From.Name, c.To.Name))
		default:
			out = append(out, fmt.Sprintf("%T", c))
		}
	}
	return out
}

// breakingTableChange describes tc, a change to table, if it is breaking ("" if additive).
func breakingTableChange(table string, tc schema.Change) string {
	switch tc := tc.(type) {
	case *schema.AddColumn:
		if tc.C.Type == nil || tc.C.Type.Null || tc.C.Default != nil {
			return ""
		}
		return fmt.Sprintf("add column %s.%s NOT NULL without a default", table, tc.C.Name)
	case *schema.AddIndex:
		if !tc.I.Unique {
			return ""
		}
		return fmt.Sprintf("add unique index %s on %s", tc.I.Name, table)
	case *schema.AddAttr, *schema.ModifyAttr, *schema.DropAttr:
		if isComment(tc) {
			return ""
		}
		return fmt.Sprintf("change an attribute of table %s", table)
	case *schema.DropColumn:
		return fmt.Sprintf("drop column %s.%s", table, tc.C.Name)
	case *schema.ModifyColumn:
		if tc.Change == schema.ChangeComment {
			return ""
		}
		return fmt.Sprintf("change column %s.%s", table, tc.To.Name)
	case *schema.RenameColumn:
		return fmt.Sprintf("rename column %s.%s to %s", table, tc.From.Name, tc.To.Name)
	case *schema.AddCheck:
		return fmt.Sprintf("add check %s on %s", tc.C.Name, table)
	case *schema.AddForeignKey:
		return fmt.Sprintf("add foreign key %s on %s", tc.F.Symbol, table)
	case *schema.DropIndex:
		return fmt.Sprintf("drop index %s on %s", tc.I.Name, table)
	case *schema.ModifyIndex:
		return fmt.Sprintf("change index %s on %s", tc.From.Name, table)
	}
	return fmt.Sprintf("%T on %s", tc, table)
}

// isComment reports whether an attribute change is about a comment.
func isComment(c schema.Change) bool {
	var a schema.Attr
	switch c := c.(type) {
	case *schema.AddAttr:
		a = c.A
	case *schema.ModifyAttr:
		a = c.To
	case *schema.DropAttr:
		a = c.A
	}
	_, ok := a.(*schema.Comment)
	return ok
}
