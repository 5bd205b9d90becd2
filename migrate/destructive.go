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
