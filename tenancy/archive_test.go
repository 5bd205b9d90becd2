package tenancy_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

var cheap = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// archiveBundle is a database with a tenant worth exporting: acme, with two domains, an owner
// and a member, and to-dos by each (some done).
type archiveBundle struct {
	db         *tenancy.DB
	svc        *account.Service
	acme       tenancy.Tenant
	alice, bob account.User
}

func newArchiveBundle(t *testing.T) *archiveBundle {
	t.Helper()
	ctx := t.Context()
	b := &archiveBundle{db: testfactory.DB(ctx, t, dbtest.URL(t))}
	b.svc = account.New(b.db)
	b.svc.Params = cheap
	b.acme = testfactory.Tenant(ctx, t, b.db, &testfactory.TenantOpts{Name: "acme", DisplayName: "Acme Inc.", Domain: "acme.example.test"})
	if _, err := b.db.AddDomain(ctx, "acme", "todo.acme.example", false); err != nil {
		t.Fatal(err)
	}
	b.alice = testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "Alice@Example.com"})
	b.bob = testfactory.User(ctx, t, b.svc, &testfactory.UserOpts{Email: "bob@example.com"})
	testfactory.Member(ctx, t, b.svc, b.acme, b.alice, &testfactory.MemberOpts{Role: account.RoleOwner})
	testfactory.Member(ctx, t, b.svc, b.acme, b.bob, nil)
	for i := range 6 {
		u := b.alice
		if i%2 == 1 {
			u = b.bob
		}
		testfactory.Todo(ctx, t, b.db, b.acme, &testfactory.TodoOpts{CreatedBy: u.ID, Title: fmt.Sprintf("to-do %d\twith a tab, a \\ and\na newline", i)})
	}
	exec(t, b.db, `UPDATE acme.todos SET done = true, completed_at = now() WHERE id % 3 = 0`)
	return b
}

func exec(t *testing.T, db *tenancy.DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.Pool().Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func export(t *testing.T, db *tenancy.DB, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := db.Export(t.Context(), name, &buf); err != nil {
		t.Fatalf("Export(%q): %v", name, err)
	}
	return buf.Bytes()
}

// todoRow is a to-do with every column, as compared across an export and an import.
type todoRow struct {
	ID                   int64
	Title                string
	Done                 bool
	CreatedBy            int64
	CreatedAt, UpdatedAt time.Time
	CompletedAt          *time.Time
}

func todosOf(t *testing.T, db *tenancy.DB, schema string) []todoRow {
	t.Helper()
	rows, err := db.Pool().Query(t.Context(), `SELECT id, title, done, created_by, created_at, updated_at, completed_at FROM `+
		pgx.Identifier{schema, "todos"}.Sanitize()+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (x todoRow, err error) {
		return x, r.Scan(&x.ID, &x.Title, &x.Done, &x.CreatedBy, &x.CreatedAt, &x.UpdatedAt, &x.CompletedAt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func members(t *testing.T, db *tenancy.DB, tenantID int64) []string {
	t.Helper()
	rows, err := db.Pool().Query(t.Context(), `SELECT lower(u.email) || ' ' || m.role FROM public.memberships m
		JOIN public.users u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY 1`, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func importArchive(t *testing.T, db *tenancy.DB, data []byte, name string) (tenancy.ImportResult, error) {
	t.Helper()
	return db.Import(t.Context(), schemadef.MustDefault(), bytes.NewReader(data), tenancy.ImportParams{Name: name, Domain: strings.ReplaceAll(name, "_", "-") + ".example.test"})
}

// wantNothing fails unless nothing of a tenant named name exists.
func wantNothing(t *testing.T, db *tenancy.DB, name string) {
	t.Helper()
	if s, tr, d, l := footprint(t, db, name); s+tr+d+l != 0 {
		t.Errorf("after a refused import, %s left schema %d, tenant %d, domains %d, ledger %d", name, s, tr, d, l)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := newArchiveBundle(t)
	data := export(t, b.db, "acme")

	t.Run("SameDatabase", func(t *testing.T) {
		res, err := importArchive(t, b.db, data, "acme_copy")
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if diff := cmp.Diff(todosOf(t, b.db, "acme"), todosOf(t, b.db, "acme_copy")); diff != "" {
			t.Errorf("imported to-dos differ (-exported +imported):\n%s", diff)
		}
		if diff := cmp.Diff(members(t, b.db, b.acme.ID), members(t, b.db, res.Tenant.ID)); diff != "" {
			t.Errorf("members differ (-exported +imported):\n%s", diff)
		}
		if res.Migrated || res.Source != "acme" || res.Tenant.DisplayName != "Acme Inc." || len(res.SkippedEmails) != 0 || res.UnknownUsers != 0 {
			t.Errorf("result = %+v", res)
		}
		// Both of acme's domains are acme's: left out, and said so.
		if diff := cmp.Diff([]string{"acme.example.test", "todo.acme.example"}, res.TakenDomains); diff != "" || len(res.Domains) != 0 {
			t.Errorf("taken domains (-want +got):\n%s; added %v", diff, res.Domains)
		}
		if got, err := b.db.ResolveHost(ctx, "acme-copy.example.test"); err != nil || got.Schema != "acme_copy" {
			t.Errorf("the new primary domain resolves to %+v, %v", got, err)
		}
		// The identity sequence is past the imported ids.
		todo := testfactory.Todo(ctx, t, b.db, res.Tenant, nil)
		if last := todosOf(t, b.db, "acme")[5]; todo.ID <= last.ID {
			t.Errorf("a new to-do got id %d, not past the imported %d", todo.ID, last.ID)
		}
	})

	t.Run("OtherDatabase", func(t *testing.T) {
		// Another installation: only Alice has an account, under another id and case.
		other := testfactory.DB(ctx, t, dbtest.URL(t))
		svc := account.New(other)
		svc.Params = cheap
		testfactory.User(ctx, t, svc, &testfactory.UserOpts{Email: "someone@example.com"})
		alice := testfactory.User(ctx, t, svc, &testfactory.UserOpts{Email: "alice@example.COM"})
		res, err := importArchive(t, other, data, "acme")
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		want := todosOf(t, b.db, "acme")
		for i := range want {
			if want[i].CreatedBy == b.alice.ID {
				want[i].CreatedBy = alice.ID
			} else {
				want[i].CreatedBy = 0 // Bob has no account here
			}
		}
		if diff := cmp.Diff(want, todosOf(t, other, "acme")); diff != "" {
			t.Errorf("imported to-dos differ (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"alice@example.com owner"}, members(t, other, res.Tenant.ID)); diff != "" {
			t.Errorf("members (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"bob@example.com"}, res.SkippedEmails); diff != "" {
			t.Errorf("skipped (-want +got):\n%s", diff)
		}
		if res.UnknownUsers != 3 {
			t.Errorf("UnknownUsers = %d, want 3 (Bob's to-dos)", res.UnknownUsers)
		}
		// Here the archive's domains are free (acme.example.test is the primary already).
		if diff := cmp.Diff([]string{"todo.acme.example"}, res.Domains); diff != "" || len(res.TakenDomains) != 0 {
			t.Errorf("domains added (-want +got):\n%s; taken %v", diff, res.TakenDomains)
		}
		if got, err := other.ResolveHost(ctx, "todo.acme.example"); err != nil || got.Schema != "acme" {
			t.Errorf("todo.acme.example resolves to %+v, %v", got, err)
		}
	})
}

// TestExportIsASnapshot checks that rows committed while an export streams are not in it: the
// copy sees the transaction's snapshot, taken before.
func TestExportIsASnapshot(t *testing.T) {
	t.Parallel()
	b := newArchiveBundle(t)
	w := &onFirstWrite{do: func() { testfactory.Todo(t.Context(), t, b.db, b.acme, &testfactory.TodoOpts{Title: "too late"}) }}
	if _, err := b.db.Export(t.Context(), "acme", w); err != nil {
		t.Fatal(err)
	}
	res, err := importArchive(t, b.db, w.buf.Bytes(), "snap")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(todosOf(t, b.db, "snap")); got != 6 || res.Tables[0].Rows != 6 {
		t.Errorf("the export has %d to-dos, want the 6 of its snapshot", got)
	}
}

type onFirstWrite struct {
	buf  bytes.Buffer
	do   func()
	done bool
}

func (w *onFirstWrite) Write(p []byte) (int, error) {
	if !w.done {
		w.done = true
		w.do()
	}
	return w.buf.Write(p)
}

// record is one record of an archive, for tests that take archives apart (archive.go has the
// layout).
type record struct {
	kind    byte
	payload []byte
}

func unpack(t *testing.T, data []byte) []record {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := bytes.CutPrefix(raw, []byte("toodoo-tenant-archive\n"))
	if !ok {
		t.Fatalf("no magic line: %q", raw[:min(len(raw), 40)])
	}
	var recs []record
	for len(raw) > 0 {
		n := binary.BigEndian.Uint32(raw[1:5])
		recs = append(recs, record{raw[0], raw[5 : 5+n]})
		raw = raw[5+n:]
	}
	return recs
}

// pack writes records back into an archive; with resum, the trailer is recomputed.
func pack(t *testing.T, recs []record, resum bool) []byte {
	t.Helper()
	var raw bytes.Buffer
	raw.WriteString("toodoo-tenant-archive\n")
	for _, r := range recs {
		if (r.kind == 'Z' || r.kind == 'S') && resum {
			s := sha256.Sum256(raw.Bytes())
			r.payload = s[:]
		}
		var h [5]byte
		h[0] = r.kind
		binary.BigEndian.PutUint32(h[1:], uint32(len(r.payload)))
		raw.Write(h[:])
		raw.Write(r.payload)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw.Bytes())
	zw.Close()
	return out.Bytes()
}

// editHeader changes the archive's header.
func editHeader(t *testing.T, recs []record, edit func(h map[string]any)) {
	t.Helper()
	var h map[string]any
	if err := json.Unmarshal(recs[0].payload, &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	p, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	recs[0].payload = p
}

func TestImportRefusesBadArchives(t *testing.T) {
	t.Parallel()
	b := newArchiveBundle(t)
	data := export(t, b.db, "acme")
	recs := unpack(t, data)
	if recs[0].kind != 'H' || recs[1].kind != 'S' || recs[2].kind != 'T' || recs[len(recs)-1].kind != 'Z' {
		t.Fatalf("archive records %q...%q", recs[0].kind, recs[len(recs)-1].kind)
	}
	// A changed title, in a valid gzip stream: only the SHA-256 sees it.
	changed := make([]record, len(recs))
	copy(changed, recs)
	for i, r := range changed {
		if r.kind == 'D' {
			changed[i].payload = bytes.Replace(r.payload, []byte("to-do 1"), []byte("to-do X"), 1)
		}
	}
	// A changed value that COPY refuses before the trailer is reached: still called corrupt.
	badBool := make([]record, len(recs))
	copy(badBool, recs)
	for i, r := range badBool {
		if r.kind == 'D' {
			badBool[i].payload = bytes.Replace(r.payload, []byte("\tf\t"), []byte("\tq\t"), 1)
		}
	}
	future := append([]record{{recs[0].kind, bytes.Clone(recs[0].payload)}}, recs[1:]...)
	editHeader(t, future, func(h map[string]any) { h["format"] = 2 })
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	for _, test := range []struct {
		name, want string
		data       []byte
	}{
		{"Empty", "the input is empty", nil},
		{"NotGzip", "not a Toodoo tenant archive", []byte("COPY todos FROM stdin;\n1\thello\n")},
		{"OtherGzip", "not a Toodoo tenant archive", gzipOf("hello, world\n")},
		{"TruncatedInHeader", "truncated", data[:40]},
		{"TruncatedHalfway", "", data[:len(data)/2]},
		{"TruncatedBeforeTrailer", "", data[:len(data)-8]},
		{"WithoutTrailer", "truncated", pack(t, recs[:len(recs)-1], false)},
		{"FlippedByte", "corrupt", flipped},
		{"ChangedRow", "SHA-256 checksum does not match", pack(t, changed, false)},
		{"ChangedRowCopyRefuses", "SHA-256 checksum does not match", pack(t, badBool, false)},
		{"TrailingBytes", "after its checksum", pack(t, append(append([]record{}, recs...), record{'D', []byte("x")}), false)},
		{"FutureFormat", "format 2", pack(t, future, true)},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := importArchive(t, b.db, test.data, "victim")
			if err == nil {
				t.Fatal("Import accepted it")
			}
			if toodoo.ErrorCode(err) != toodoo.EINVALID || !strings.Contains(toodoo.ErrorMessage(err), test.want) {
				t.Errorf("Import: %v (code %s), want EINVALID with %q", err, toodoo.ErrorCode(err), test.want)
			}
			wantNothing(t, b.db, "victim")
		})
	}
}

func gzipOf(s string) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	io.WriteString(zw, s)
	zw.Close()
	return out.Bytes()
}

func TestImportRefusesTakenOrBadName(t *testing.T) {
	t.Parallel()
	b := newArchiveBundle(t)
	data := export(t, b.db, "acme")
	testfactory.Tenant(t.Context(), t, b.db, &testfactory.TenantOpts{Name: "taken"})
	before := todosOf(t, b.db, "taken")
	_, err := importArchive(t, b.db, data, "taken")
	if toodoo.ErrorCode(err) != toodoo.ECONFLICT {
		t.Errorf("import as an existing tenant: %v, want ECONFLICT", err)
	}
	if got := todosOf(t, b.db, "taken"); len(got) != len(before) {
		t.Errorf("the existing tenant now has %d to-dos", len(got))
	}
	for _, name := range []string{"Bad Name", "public", "pg_x", ""} {
		if _, err := importArchive(t, b.db, data, name); toodoo.ErrorCode(err) != toodoo.EINVALID {
			t.Errorf("import as %q: %v, want EINVALID", name, err)
		}
	}
	// A taken primary domain.
	_, err = b.db.Import(t.Context(), schemadef.MustDefault(), bytes.NewReader(data), tenancy.ImportParams{Name: "fresh", Domain: "acme.example.test"})
	if toodoo.ErrorCode(err) != toodoo.ECONFLICT {
		t.Errorf("import with a taken domain: %v, want ECONFLICT", err)
	}
	wantNothing(t, b.db, "fresh")
	if _, err := b.db.Export(t.Context(), "nobody", io.Discard); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		t.Errorf("Export of an unknown tenant: %v, want ENOTFOUND", err)
	}
	testfactory.Tenant(t.Context(), t, b.db, &testfactory.TenantOpts{Name: "gone"})
	if err := b.db.Delete(t.Context(), "gone", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Export(t.Context(), "gone", io.Discard); toodoo.ErrorCode(err) != toodoo.ENOTFOUND || !strings.Contains(err.Error(), "is deleted") {
		t.Errorf("Export of a deleted tenant: %v, want ENOTFOUND", err)
	}
}

// TestImportOlderSchema exports a tenant whose schema is one column short of schema.hcl (as an
// archive of an older release would be) and imports it forward: the column takes its default.
// A schema with more than schema.hcl (a newer release's archive) or another type is refused.
func TestImportOlderSchema(t *testing.T) {
	t.Parallel()
	b := newArchiveBundle(t)
	exec(t, b.db, `ALTER TABLE acme.todos DROP COLUMN updated_at`)
	exec(t, b.db, `UPDATE public.schema_ledger SET applied_hash = 'an-older-hash' WHERE schema_name = 'acme'`)
	data := export(t, b.db, "acme")
	res, err := importArchive(t, b.db, data, "forward")
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !res.Migrated || res.SourceHash != "an-older-hash" {
		t.Errorf("Migrated = %t, SourceHash = %q", res.Migrated, res.SourceHash)
	}
	if diff := cmp.Diff([]string{"todos.updated_at"}, res.Defaulted); diff != "" {
		t.Errorf("Defaulted (-want +got):\n%s", diff)
	}
	got := todosOf(t, b.db, "forward")
	if len(got) != 6 || got[0].UpdatedAt.IsZero() || got[0].Title != "to-do 0\twith a tab, a \\ and\na newline" {
		t.Errorf("imported %+v", got)
	}

	for _, test := range []struct{ name, alter, want string }{
		{"NewerColumn", `ALTER TABLE acme.todos ADD COLUMN priority int NOT NULL DEFAULT 0`, "column todos.priority that this schema lacks"},
		{"NewerTable", `CREATE TABLE acme.tags (id bigint PRIMARY KEY)`, `table "tags" that this schema lacks`},
		{"OtherType", `ALTER TABLE acme.todos ALTER COLUMN created_at TYPE text`, "is text in the archive and timestamp with time zone here"},
	} {
		t.Run(test.name, func(t *testing.T) {
			b := newArchiveBundle(t)
			exec(t, b.db, test.alter)
			_, err := importArchive(t, b.db, export(t, b.db, "acme"), "newer")
			if toodoo.ErrorCode(err) != toodoo.EINVALID || !strings.Contains(toodoo.ErrorMessage(err), test.want) {
				t.Errorf("Import: %v, want EINVALID with %q", err, test.want)
			}
			wantNothing(t, b.db, "newer")
		})
	}
	t.Run("Widened", func(t *testing.T) {
		b := newArchiveBundle(t)
		exec(t, b.db, `ALTER TABLE acme.todos ALTER COLUMN title TYPE varchar(500)`)
		if _, err := importArchive(t, b.db, export(t, b.db, "acme"), "wider"); err != nil {
			t.Errorf("varchar(500) into text: %v", err)
		}
	})
}

// TestExportImportConstantMemory exports and imports a tenant of 64 MB of rows (or
// TOODOO_TEST_ARCHIVE_MB) and checks that the heap never grows by more than a fraction of it:
// tables are streamed, never held.
func TestExportImportConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MB of rows")
	}
	ctx := t.Context()
	db := testfactory.DB(ctx, t, dbtest.URL(t))
	mb := 64
	if v := os.Getenv("TOODOO_TEST_ARCHIVE_MB"); v != "" {
		var err error
		if mb, err = strconv.Atoi(v); err != nil {
			t.Fatalf("TOODOO_TEST_ARCHIVE_MB=%q: %v", v, err)
		}
	}
	const title = 480
	rows := mb << 20 / title
	bigTenant(ctx, t, db, "big", rows, title)

	path := filepath.Join(t.TempDir(), "big.toodoo")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	peak := heapPeak(t, func() {
		if _, err := db.Export(ctx, "big", f); err != nil {
			t.Fatal(err)
		}
	})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	t.Logf("export: %d MB of rows, archive %.1f MB, heap peak +%.1f MB", mb, float64(st.Size())/(1<<20), float64(peak)/(1<<20))
	if peak > 16<<20 {
		t.Errorf("the heap grew by %d MB while exporting %d MB of rows", peak>>20, mb)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	peak = heapPeak(t, func() {
		if _, err := db.Import(ctx, schemadef.MustDefault(), f, tenancy.ImportParams{Name: "big_copy", Domain: "big-copy.example.test"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("import: heap peak +%.1f MB", float64(peak)/(1<<20))
	if peak > 16<<20 {
		t.Errorf("the heap grew by %d MB while importing %d MB of rows", peak>>20, mb)
	}
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM big_copy.todos`).Scan(&n); err != nil || n != rows {
		t.Errorf("imported %d rows (%v), want %d", n, err, rows)
	}
}

// heapPeak runs fn and returns by how much the heap in use grew at most meanwhile, sampled
// every millisecond.
func heapPeak(t *testing.T, fn func()) uint64 {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load()
}

// bigTenant makes a tenant named name with rows to-dos of title bytes each.
func bigTenant(ctx context.Context, tb testing.TB, db *tenancy.DB, name string, rows, title int) {
	tb.Helper()
	testfactory.Tenant(ctx, tb, db, &testfactory.TenantOpts{Name: name})
	if _, err := db.Pool().Exec(ctx, `INSERT INTO `+pgx.Identifier{name, "todos"}.Sanitize()+` (title, created_by)
		SELECT left(repeat(md5(i::text), 16), $1), 1 + i % 10 FROM generate_series(1, $2) i`, title, rows); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkExport exports a tenant of 64 MB of to-do titles (128k rows); MB/s counts the titles.
//
//	go test ./tenancy -run '^$' -bench 'Export$|Import$' -benchtime 3x -count 5
func BenchmarkExport(b *testing.B) {
	ctx := b.Context()
	db := testfactory.DB(ctx, b, dbtest.URL(b))
	const rows, title = 128 << 10, 480
	bigTenant(ctx, b, db, "big", rows, title)
	b.SetBytes(rows * title)
	var size int64
	for b.Loop() {
		w := &countWriter{}
		if _, err := db.Export(ctx, "big", w); err != nil {
			b.Fatal(err)
		}
		size = w.n
	}
	b.ReportMetric(float64(size)/(1<<20), "archive-MB")
}

// BenchmarkImport imports the archive of BenchmarkExport's tenant as a new tenant.
func BenchmarkImport(b *testing.B) {
	ctx := b.Context()
	db := testfactory.DB(ctx, b, dbtest.URL(b))
	const rows, title = 128 << 10, 480
	bigTenant(ctx, b, db, "big", rows, title)
	var buf bytes.Buffer
	if _, err := db.Export(ctx, "big", &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(rows * title)
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("copy%d", i)
		if _, err := db.Import(ctx, schemadef.MustDefault(), bytes.NewReader(buf.Bytes()), tenancy.ImportParams{Name: name, Domain: name + ".example.test"}); err != nil {
			b.Fatal(err)
		}
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestExportImportPortableText moves a tenant between two databases whose defaults write and
// read dates differently (day first vs month first, other time zones): the values arrive the
// same, because both ends fix those settings for their transaction.
func TestExportImportPortableText(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	open := func(settings string) *tenancy.DB {
		url := dbtest.URL(t)
		boot := testfactory.DB(ctx, t, url)
		var name string
		if err := boot.Pool().QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		for _, set := range strings.Split(settings, ";") {
			exec(t, boot, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET "+set)
		}
		boot.Close()
		return testfactory.DB(ctx, t, url) // new connections, with the new defaults
	}
	src := open("DateStyle = 'SQL, DMY'; TimeZone = 'Asia/Tokyo'; IntervalStyle = 'sql_standard'")
	dst := open("DateStyle = 'SQL, MDY'; TimeZone = 'America/New_York'")
	testfactory.Tenant(ctx, t, src, &testfactory.TenantOpts{Name: "acme"})
	exec(t, src, `INSERT INTO acme.todos (title, created_by, created_at, updated_at) VALUES
		('dated', 1, '2026-03-04 05:06:07.123456+00', '2026-12-01 23:59:59+00')`)
	var buf bytes.Buffer
	if _, err := src.Export(ctx, "acme", &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Import(ctx, schemadef.MustDefault(), &buf, tenancy.ImportParams{Name: "acme", Domain: "acme.example.test"}); err != nil {
		t.Fatal(err)
	}
	want, got := todosOf(t, src, "acme"), todosOf(t, dst, "acme")
	if len(got) != 1 || !got[0].CreatedAt.Equal(want[0].CreatedAt) || !got[0].UpdatedAt.Equal(want[0].UpdatedAt) {
		t.Errorf("imported %+v, exported %+v", got, want)
	}
}
