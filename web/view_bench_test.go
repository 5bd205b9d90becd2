package web

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/toodoo/toodoo/gen/tenantdb"
)

// BenchmarkPageRender renders the whole signed-in list page of bench http (20 to-dos), layout
// and all, without the database: the views' share of GET /. With 2 workspaces in the menu, and with 200 as bench
// http's user has at N=200 (it owns every tenant).
func BenchmarkPageRender(b *testing.B) {
	for _, n := range []int{2, 200} {
		b.Run(fmt.Sprintf("workspaces=%d", n), func(b *testing.B) { benchmarkPageRender(b, n) })
	}
}

func benchmarkPageRender(b *testing.B, workspaces int) {
	v, err := parseViews()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p := &todoIndexPage{
		page: page{Title: "To-dos", SiteName: "bench_1", Workspace: true, Path: "/", PublicURL: "http://bench.test:8080",
			User: &user{ID: 1, Email: "owner1@bench.test", Role: "owner", SessionID: 1},
		},
		Status: "all", MaxTitle: MaxTitleChars,
		Counts: tenantdb.TodoCountsRow{Open: 15, Done: 5},
	}
	for i := range workspaces {
		p.Workspaces = append(p.Workspaces, menuWorkspace{ID: int64(i + 1), Name: fmt.Sprintf("bench_%d", i+1), Role: "owner", Current: i == 0})
	}
	for i := range 20 {
		p.Rows = append(p.Rows, todoRow{Todo: tenantdb.Todo{ID: int64(20 - i), Title: fmt.Sprintf("to-do %d of bench_1", 20-i), Done: i%4 == 0, CreatedAt: now, UpdatedAt: now}, Status: "all"})
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := v.renderPage(&buf, "todos", p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
