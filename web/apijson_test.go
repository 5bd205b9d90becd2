package web

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestWriteJSONIsMarshal: the hand-written encoding of the API's to-dos is json.Marshal's, byte
// for byte, for titles and times on and off its plain path.
func TestWriteJSONIsMarshal(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	times := []time.Time{
		time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 16, 0, 0, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 600000, berlin),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	titles := []string{"", "plain title", `quote " and \ backslash`, "<b>&amp;</b>", "tab\tnew\nline\r\x00\x1f\x7f",
		"café ☕ 日本", "line\u2028sep\u2029", "bad \xff utf-8", "emoji 🎉"}
	var todos []apiTodo
	for i, title := range titles {
		tm := times[i%len(times)]
		var done *time.Time
		if i%2 == 1 {
			done = &times[(i+1)%len(times)]
		}
		todos = append(todos, apiTodo{ID: int64(i) - 1, Title: title, Done: i%3 == 0, CreatedBy: int64(i * 1000), CreatedAt: tm, UpdatedAt: times[(i+2)%len(times)], CompletedAt: done})
	}
	values := []any{
		apiTodoList{Todos: todos, NextCursor: encodeCursor(42)},
		apiTodoList{Todos: todos[:1]},
		apiTodoList{Todos: []apiTodo{}},
		apiTodoList{},
		apiTodoList{Todos: todos[:2], NextCursor: "a<b"},
	}
	for _, td := range todos {
		values = append(values, td)
	}
	for i, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		if err := writeJSON(rec, 200, v); err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if got := rec.Body.String(); got != string(want)+"\n" {
			t.Errorf("value %d:\n got %s\nwant %s", i, got, want)
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("value %d: Content-Length %s for %d bytes", i, cl, rec.Body.Len())
		}
	}
	// A year json.Marshal refuses is refused.
	bad := apiTodo{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := writeJSON(httptest.NewRecorder(), 200, bad); err == nil {
		t.Error("a year past 9999 was encoded")
	}
}

func BenchmarkWriteJSON(b *testing.B) {
	now := time.Now().UTC()
	l := apiTodoList{NextCursor: encodeCursor(1)}
	for i := range 20 {
		l.Todos = append(l.Todos, apiTodo{ID: int64(i), Title: "to-do number " + strconv.Itoa(i), CreatedBy: 1, CreatedAt: now, UpdatedAt: now})
	}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			_ = writeJSON(httptest.NewRecorder(), 200, l)
		}
	})
	type plain apiTodoList // without appendJSON
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			_ = writeJSON(httptest.NewRecorder(), 200, plain(l))
		}
	})
}
