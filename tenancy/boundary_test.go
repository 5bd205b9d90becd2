package tenancy_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSharedQueriesStayBehindOwners keeps the generated shared queries behind their owners:
// only tenancy and account (and migrate, for its ledger) import gen/shareddb, and only tenancy
// and account reach the queries through SharedQueries (which needs no import to call); account,
// whose query errors tenancy interprets, does not import the driver; and nothing but tests uses
// DB.Pool. Test files count too, except for Pool.
func TestSharedQueriesStayBehindOwners(t *testing.T) {
	t.Parallel()
	const module = "github.com/toodoo/toodoo/"
	importers := map[string]bool{"tenancy": true, "account": true, "migrate": true}
	owners := map[string]bool{"tenancy": true, "account": true}
	fset := token.NewFileSet()
	var offences []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "gen", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, err := filepath.Rel("..", path)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case p == module+"gen/shareddb" && !importers[dir]:
				offences = append(offences, rel+" imports gen/shareddb: use a tenancy or account method")
			case dir == "account" && strings.HasPrefix(p, "github.com/jackc/pgx"):
				offences = append(offences, rel+" imports "+p+": tenancy interprets the driver's errors")
			}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !owners[dir] && strings.Contains(string(src), "SharedQueries()") {
			offences = append(offences, rel+" calls SharedQueries: it is for tenancy and account only")
		}
		if dir != "tenancy" && !strings.HasSuffix(path, "_test.go") && strings.Contains(string(src), ".Pool()") {
			offences = append(offences, rel+" calls DB.Pool: it is for tests only")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offences {
		t.Error(o)
	}
}
