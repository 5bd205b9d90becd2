package web

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/toodoo/toodoo/gen/tenantdb"
)

// BenchmarkPageRender renders the signed-in list page of bench http (20 to-dos, two
// workspaces in the menu) without the database: the template's share of GET /.
func BenchmarkPageRender(b *testing.B) {
	v, err := parseViews()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p := &todoIndexPage{
		page: page{Title: "To-dos", SiteName: "bench_1", Workspace: true, Path: "/", PublicURL: "http://bench.test:8080",
			User:       &user{ID: 1, Email: "owner1@bench.test", Role: "owner", SessionID: 1},
			Workspaces: []menuWorkspace{{ID: 1, Name: "bench_1", Role: "owner", Current: true}, {ID: 2, Name: "bench_2", Role: "member"}}},
		Status: "all", MaxTitle: MaxTitleChars,
		Counts: tenantdb.TodoCountsRow{Open: 15, Done: 5},
	}
	for i := range 20 {
		p.Rows = append(p.Rows, todoRow{Todo: tenantdb.Todo{ID: int64(20 - i), Title: fmt.Sprintf("to-do %d of bench_1", 20-i), Done: i%4 == 0, CreatedAt: now, UpdatedAt: now}, Status: "all"})
	}
	t := v.pages["todos.html"]
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
