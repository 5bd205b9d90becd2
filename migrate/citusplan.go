package migrate

import (
	"fmt"
	"strings"

	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
)

// In Citus mode, tenant schemas are distributed schemas, and Citus runs only part of what
// PostgreSQL runs on their tables. The migrator adapts its plans for tenant schemas in two ways
// (the plan for "public", plain tables on the coordinator, is left as Atlas makes it):
//
//   - citusUnsupported lists the changes Citus never runs on a distributed table; such a plan is
//     refused before anything is applied, whatever the flags, with a message that says which.
//   - splitAlters rewrites every ALTER TABLE with several subcommands into one ALTER TABLE per
//     subcommand: Citus refuses ADD CONSTRAINT (and a few others) next to other subcommands
//     (0A000). On plain PostgreSQL one ALTER TABLE is better (a table is rewritten or scanned once
//     for all its changes), so it is done in Citus mode only.

// citusUnsupported describes the changes of a tenant plan that Citus cannot run on a distributed
// table (Citus 13, commands/table.c): adding a column that is an identity, a serial or has a
// nextval() default; adding, changing or dropping a column's identity; changing the type of an
// identity or serial column, or to a serial type.
func citusUnsupported(changes []schema.Change) []string {
	var out []string
	for _, c := range changes {
		mt, ok := c.(*schema.ModifyTable)
		if !ok {
			continue
		}
		for _, tc := range mt.Changes {
			switch tc := tc.(type) {
			case *schema.AddColumn:
				if what := sequenceBacked(tc.C); what != "" {
					out = append(out, fmt.Sprintf("add %s column %s.%s", what, mt.T.Name, tc.C.Name))
				}
			case *schema.ModifyColumn:
				switch from, to := sequenceBacked(tc.From), sequenceBacked(tc.To); {
				case tc.Change.Is(schema.ChangeAttr) && (isIdentity(tc.From) || isIdentity(tc.To)):
					out = append(out, fmt.Sprintf("change the identity of column %s.%s", mt.T.Name, tc.To.Name))
				case tc.Change.Is(schema.ChangeType) && from != "":
					out = append(out, fmt.Sprintf("change the type of %s column %s.%s", from, mt.T.Name, tc.To.Name))
				case tc.Change.Is(schema.ChangeType) && to != "":
					out = append(out, fmt.Sprintf("make column %s.%s %s", mt.T.Name, tc.To.Name, to))
				}
			}
		}
	}
	return out
}

// sequenceBacked says what makes column c take its values from a sequence: "identity",
// "serial", "nextval() default", or "" if nothing does.
func sequenceBacked(c *schema.Column) string {
	switch {
	case c == nil:
		return ""
	case isIdentity(c):
		return "identity"
	}
	if c.Type != nil {
		if _, ok := c.Type.Type.(*postgres.SerialType); ok {
			return "serial"
		}
	}
	if x, ok := c.Default.(*schema.RawExpr); ok && strings.Contains(strings.ToLower(x.X), "nextval(") {
		return "nextval() default"
	}
	return ""
}

func isIdentity(c *schema.Column) bool {
	if c == nil {
		return false
	}
	for _, a := range c.Attrs {
		if _, ok := a.(*postgres.Identity); ok {
			return true
		}
	}
	return false
}

// splitAlters rewrites each ALTER TABLE statement with several subcommands into one statement per
// subcommand, other statements unchanged and in place. PostgreSQL runs the subcommands of one
// ALTER TABLE in passes, not in their written order, so the split statements follow the same
// order: drops first, then type changes, added columns, column settings (defaults, NOT NULL),
// added constraints, and the rest; subcommands of one kind keep Atlas's order.
func splitAlters(stmts []string) []string {
	out := make([]string, 0, len(stmts))
	for _, stmt := range stmts {
		head, subs, ok := alterSubcommands(stmt)
		if !ok || len(subs) < 2 {
			out = append(out, stmt)
			continue
		}
		for pass := range alterPasses {
			for _, sub := range subs {
				if alterPass(sub) == pass {
					out = append(out, head+sub)
				}
			}
		}
	}
	return out
}

// alterPasses counts the passes of alterPass.
const alterPasses = 6

// alterPass is the pass in which PostgreSQL runs an ALTER TABLE subcommand, simplified to the
// subcommands Atlas writes.
func alterPass(sub string) int {
	u := strings.ToUpper(sub)
	switch {
	case strings.HasPrefix(u, "DROP "):
		return 0
	case strings.HasPrefix(u, "ALTER COLUMN ") && strings.Contains(u, " TYPE "):
		return 1
	case strings.HasPrefix(u, "ADD COLUMN "):
		return 2
	case strings.HasPrefix(u, "ALTER COLUMN "):
		return 3
	case strings.HasPrefix(u, "ADD "):
		return 4
	}
	return 5
}

// alterSubcommands splits `ALTER TABLE name sub1, sub2, ...` into its head (`ALTER TABLE name `)
// and its subcommands, at the commas outside parentheses, brackets and quotes. ok is false for
// any other statement.
func alterSubcommands(stmt string) (head string, subs []string, ok bool) {
	const prefix = "ALTER TABLE "
	if !strings.HasPrefix(strings.ToUpper(stmt), prefix) {
		return "", nil, false
	}
	// The table name: identifiers, quoted or not, joined by dots.
	i := len(prefix)
	for {
		if i < len(stmt) && stmt[i] == '"' {
			i++
			for i < len(stmt) && (stmt[i] != '"' || (i+1 < len(stmt) && stmt[i+1] == '"')) {
				if stmt[i] == '"' {
					i++
				}
				i++
			}
			i++
		} else {
			for i < len(stmt) && stmt[i] != ' ' && stmt[i] != '.' {
				i++
			}
		}
		if i < len(stmt) && stmt[i] == '.' {
			i++
			continue
		}
		break
	}
	if i >= len(stmt) || stmt[i] != ' ' {
		return "", nil, false
	}
	head, rest := stmt[:i+1], stmt[i+1:]
	depth, start := 0, 0
	var quote byte
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			subs = append(subs, strings.TrimSpace(rest[start:j]))
			start = j + 1
		}
	}
	if quote != 0 || depth != 0 {
		return "", nil, false // not understood: leave it whole
	}
	subs = append(subs, strings.TrimSpace(rest[start:]))
	return head, subs, true
}
