package migrate

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/schemadef"
)

// A long error of multi-byte text is cut between characters before it goes into the ledger's
// text column: a cut inside a character is invalid UTF-8, which PostgreSQL refuses, and the run
// would lose the error it meant to record.
func TestRecordErrorCutsOnCharacters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.URL(t)
	def := schemadef.MustDefault()
	pool, err := openPool(ctx, url, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// "x" then two-byte characters: byte 2000 falls inside one.
	cause := errors.New("x" + strings.Repeat("é", 2500))
	r := &runner{pool: pool, def: def, rep: &syncReporter{r: NopReporter{}}, sum: &Summary{}}
	if err := r.recordError(ctx, []string{"public"}, "next", cause); err != nil {
		t.Fatalf("record the error: %v", err)
	}
	var got string
	if err := pool.QueryRow(ctx, "SELECT last_error FROM public.schema_ledger WHERE schema_name = 'public'").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(got); n != 2000 || !utf8.ValidString(got) || !strings.HasSuffix(got, "é…") || !strings.HasPrefix(cause.Error(), strings.TrimSuffix(got, "…")) {
		t.Fatalf("last_error has %d characters: %.40q...%q", n, got, got[len(got)-10:])
	}
}
