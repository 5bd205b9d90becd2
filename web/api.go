package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
)

// API list limits.
const (
	apiDefaultLimit = 50
	apiMaxLimit     = 200
)

// apiTodo is a to-do as the JSON API shows it (decoupled from the generated row type, so a
// schema change does not silently change the API).
type apiTodo struct {
	ID          int64      `json:"id"`
	Title       string     `json:"title"`
	Done        bool       `json:"done"`
	CreatedBy   int64      `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

func toAPITodo(t tenantdb.Todo) apiTodo {
	return apiTodo{ID: t.ID, Title: t.Title, Done: t.Done, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, CompletedAt: t.CompletedAt}
}

// apiTodoList is one page of to-dos; NextCursor is absent on the last page.
type apiTodoList struct {
	Todos      []apiTodo `json:"todos"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// encodeCursor makes the opaque cursor that continues a list after the to-do with this id.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), "v1:"); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, toodoo.Invalid("cursor", "The cursor is not valid: pass next_cursor from the previous page as it is.")
}

// handleAPITodoList lists to-dos newest first: ?status=open|done, ?limit=1..200 (default 50),
// ?cursor= from the previous page's next_cursor.
func (s *Server) handleAPITodoList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	var done *bool
	switch st := q.Get("status"); st {
	case "", "all":
	case "open", "done":
		_, done = parseStatus(st)
	default:
		return toodoo.Invalid("status", "status must be open or done.")
	}
	limit := apiDefaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > apiMaxLimit {
			return toodoo.Invalid("limit", "limit must be a whole number from 1 to %d.", apiMaxLimit)
		}
		limit = n
	}
	var before *int64
	if c := q.Get("cursor"); c != "" {
		id, err := decodeCursor(c)
		if err != nil {
			return err
		}
		before = &id
	}
	var todos []tenantdb.Todo
	err := s.db.InReadTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		todos, err = q.TodoPage(ctx, tenantdb.TodoPageParams{Done: done, BeforeID: before, MaxRows: int32(limit + 1)})
		return err
	})
	if err != nil {
		return err
	}
	out := apiTodoList{Todos: make([]apiTodo, 0, min(len(todos), limit))}
	if len(todos) > limit {
		todos = todos[:limit]
		out.NextCursor = encodeCursor(todos[len(todos)-1].ID)
	}
	for _, t := range todos {
		out.Todos = append(out.Todos, toAPITodo(t))
	}
	return writeJSON(w, http.StatusOK, out)
}

// apiTodoInput is the body of POST and PATCH; absent fields are nil.
type apiTodoInput struct {
	Title *string `json:"title"`
	Done  *bool   `json:"done"`
}

// handleAPITodoCreate creates a to-do from {"title": "..."}; 201 with Location.
func (s *Server) handleAPITodoCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in apiTodoInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Title == nil {
		return toodoo.Invalid("title", "title is required.")
	}
	title, err := todoTitle.Clean(*in.Title)
	if err != nil {
		return err
	}
	var todo tenantdb.Todo
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		todo, err = q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: title, CreatedBy: userFrom(ctx).ID})
		if err == nil && in.Done != nil && *in.Done {
			todo, err = q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: todo.ID, Done: in.Done, Now: time.Now()})
		}
		return err
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/todos/%d", todo.ID))
	return writeJSON(w, http.StatusCreated, toAPITodo(todo))
}

// handleAPITodoGet returns one to-do; another workspace's id is simply not found (other schema).
func (s *Server) handleAPITodoGet(w http.ResponseWriter, r *http.Request) error {
	todo, err := s.getTodo(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAPITodo(todo))
}

// handleAPITodoUpdate changes the title and/or done flag: {"title": "...", "done": true}.
func (s *Server) handleAPITodoUpdate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := todoID(r)
	if err != nil {
		return err
	}
	var in apiTodoInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Title != nil {
		t, err := todoTitle.Clean(*in.Title)
		if err != nil {
			return err
		}
		in.Title = &t
	}
	var todo tenantdb.Todo
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		if in.Title == nil && in.Done == nil {
			todo, err = q.TodoGet(ctx, id)
			return err
		}
		todo, err = q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: id, Title: in.Title, Done: in.Done, Now: time.Now()})
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAPITodo(todo))
}

// handleAPITodoDelete deletes a to-do: 204, or 404 if there is no such to-do here.
func (s *Server) handleAPITodoDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := todoID(r)
	if err != nil {
		return err
	}
	if err := s.deleteTodo(ctx, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeJSON reads a JSON body into dst: 415 unless the body is declared JSON, 413 if it is too
// large (limitBody), 400 naming the field for malformed JSON, a wrong type or an unknown field.
func decodeJSON(r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return errNotJSON
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return errTooLarge
		case errors.Is(err, io.EOF):
			return toodoo.Invalid("", "The request body is empty: send a JSON object.")
		case errors.As(err, &syntax):
			return toodoo.Invalid("", "Malformed JSON at byte %d.", syntax.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return toodoo.Invalid("", "Malformed JSON: the body ends too early.")
		case errors.As(err, &typ):
			if typ.Field == "" {
				return toodoo.Invalid("", "The body must be a JSON object.")
			}
			return toodoo.Invalid(typ.Field, "%s must be a %s.", typ.Field, jsonTypeName(typ.Type.Kind().String()))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return toodoo.Invalid(field, "Unknown field %q.", field)
		}
		return toodoo.Invalid("", "Malformed JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return toodoo.Invalid("", "Send one JSON object, nothing after it.")
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return toodoo.Invalid("", "Send one JSON object, nothing after it.")
	}
	return nil
}

func jsonTypeName(kind string) string {
	switch kind {
	case "ptr":
		return "value of the right type"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	}
	return kind
}

// jsonBufs are writeJSON's buffers: a list of to-dos is a few kilobytes, encoded on every API
// request.
var jsonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON writes v as JSON with status (json.Marshal's bytes and a newline; the to-dos
// by hand, see apijson.go). The body is
// encoded into a pooled buffer and sent with its Content-Length: no copy to append the newline,
// and no chunked encoding for a body over net/http's 2 KiB buffer.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	buf := jsonBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 { // an export-sized body is not kept
			buf.Reset()
			jsonBufs.Put(buf)
		}
	}()
	if a, ok := v.(jsonAppender); ok {
		b, err := a.appendJSON(buf.AvailableBuffer())
		if err != nil {
			return fmt.Errorf("web: encode JSON: %w", err)
		}
		buf.Write(append(b, '\n'))
	} else if err := json.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("web: encode JSON: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}
