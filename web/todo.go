package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/tenancy"
)

// MaxTitleChars is the longest to-do title (the tenant schema checks it too).
const MaxTitleChars = 500

// pageListMax is how many to-dos the page shows; the API pages through any number.
const pageListMax = 500

// todoTitle is the rule for a to-do title, for the pages and the API alike: 1 to 500
// characters, nothing invisible-only, no control characters (see toodoo.TextRule).
var todoTitle = toodoo.TextRule{Field: "title", Noun: "title", MaxChars: MaxTitleChars, Required: "Enter a title."}

// parseStatus reads the list filter: "open", "done" or anything else for all.
func parseStatus(s string) (status string, done *bool) {
	switch s {
	case "open":
		f := false
		return s, &f
	case "done":
		t := true
		return s, &t
	}
	return "all", nil
}

// todoID reads the {id} route variable (routeID).
func todoID(r *http.Request) (int64, error) { return routeID(r, "id") }

// todoIndexPage is the workspace's home: its to-dos with a filter and counts.
type todoIndexPage struct {
	page
	Status     string // all, open or done
	Rows       []todoRow
	Counts     tenantdb.TodoCountsRow
	Truncated  bool
	NewTitle   string // the typed text, kept when it was refused
	TitleError string
	MaxTitle   int
	Toast      todoToast // the message of the last action, over the list (not above it)
	undoID     int64     // the to-do an undo token in the address would restore
}

// todoRow is one to-do as the list shows it (todoRowView in views.templ, also sent alone
// to the script): its forms carry the filter they came from.
type todoRow struct {
	tenantdb.Todo
	Status string
}

// todoToast is the live message over the list: what the last action did, and for a delete the
// undo form.
type todoToast struct {
	Kind    string // "ok" or "error"
	Message string
	Undo    string // an undo token (see undo.go)
	Status  string
}

// Total is the number of to-dos in all.
func (p *todoIndexPage) Total() int64 { return p.Counts.Open + p.Counts.Done }

// loadTodoIndex fills the page's list and counts with one statement (TodoList: one round
// trip). If p.undoID is set and that to-do exists (it was restored already), the undo offer is
// withdrawn.
func (s *Server) loadTodoIndex(ctx context.Context, p *todoIndexPage) error {
	_, done := parseStatus(p.Status)
	err := s.db.InReadTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) error {
		rows, err := q.TodoList(ctx, tenantdb.TodoListParams{Done: done, MaxRows: pageListMax + 1})
		if err != nil {
			return err
		}
		p.Rows = make([]todoRow, 0, min(len(rows), pageListMax))
		for _, r := range rows {
			p.Counts = tenantdb.TodoCountsRow{Open: r.Open, Done: r.DoneCount}
			if r.ID == nil {
				break // no to-dos: the counts' row alone
			}
			if len(p.Rows) == pageListMax {
				p.Truncated = true
				break
			}
			p.Rows = append(p.Rows, todoRow{Todo: tenantdb.Todo{
				ID: *r.ID, Title: *r.Title, Done: *r.Done, CreatedBy: *r.CreatedBy,
				CreatedAt: *r.CreatedAt, UpdatedAt: *r.UpdatedAt, CompletedAt: r.CompletedAt,
			}, Status: p.Status})
		}
		return nil
	})
	if err != nil || p.undoID == 0 {
		return err
	}
	// Is the deleted to-do back? (Its own transaction: the scope translates a missing row into
	// ENOTFOUND only for the error a callback returns.)
	_, err = tenancy.InReadTxV(ctx, s.db, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (tenantdb.Todo, error) {
		return q.TodoGet(ctx, p.undoID)
	})
	switch toodoo.ErrorCode(err) {
	case toodoo.ENOTFOUND:
		return nil
	case "":
		p.Toast = todoToast{} // restored already: nothing to undo
		return nil
	}
	return err
}

// handleTodoIndex lists the workspace's to-dos, open first, filtered by ?status=. After a
// delete without the script, ?undo= carries the token that offers to bring the to-do back.
func (s *Server) handleTodoIndex(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	status, _ := parseStatus(r.URL.Query().Get("status"))
	p := &todoIndexPage{page: page{Title: "To-dos"}, Status: status, MaxTitle: MaxTitleChars}
	if sess := info(ctx).Session; sess != nil {
		// The flash goes over the list, in the toast, rather than above it in the layout.
		p.Toast.Kind, p.Toast.Message = sess.popFlash()
	}
	if token := r.URL.Query().Get("undo"); token != "" {
		if todo, err := s.readUndoToken(token, tenantFrom(ctx).ID, userFrom(ctx).ID, time.Now()); err == nil {
			p.Toast = todoToast{Kind: "ok", Message: deletedMessage(todo.Title), Undo: token, Status: status}
			p.undoID = todo.ID
		}
	}
	if err := s.loadTodoIndex(ctx, p); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "todos", p)
}

// listURL is the list with the filter the form came from.
func listURL(r *http.Request) string {
	status, _ := parseStatus(r.PostFormValue("status"))
	return "/" + statusQuery(status)
}

// statusQuery is the list's filter as an address's query: none for "all", so that the plain
// list keeps its plain address.
func statusQuery(status string) string {
	if status == "all" {
		return ""
	}
	return "?status=" + url.QueryEscape(status)
}

// rowURL is the list with the filter the form came from, at the to-do id: the browser scrolls
// back to where the person was.
func rowURL(r *http.Request, id int64) string {
	return listURL(r) + "#todo-" + strconv.FormatInt(id, 10)
}

// Progressive enhancement. The list works with plain forms, each answered by a redirect back to
// the list (at the row: /#todo-ID). web/static/app.js sends the same forms with fetch and the
// header X-Toodoo-Fragment: 1; then the answer is a todoReply in JSON, with the row's HTML
// rendered by the same view as the page (todoRowView), and the script patches the page in
// place, keeping focus and scroll where the person works. The same-origin check of every POST (routes) applies
// to both alike.

// wantsFragment reports whether the request comes from the list's script.
func wantsFragment(r *http.Request) bool { return r.Header.Get("X-Toodoo-Fragment") == "1" }

// todoReply is the answer to the script.
type todoReply struct {
	Message string     `json:"message,omitempty"`
	Error   string     `json:"error,omitempty"` // a refused field's message
	Field   string     `json:"field,omitempty"`
	ID      int64      `json:"id,omitempty"`
	Row     string     `json:"row,omitempty"`   // the to-do's <li>
	Toast   string     `json:"toast,omitempty"` // the message's HTML, with the undo form after a delete
	Counts  *todoCount `json:"counts,omitempty"`
}

// todoCount is the filter's counts after the change.
type todoCount struct {
	All  int64 `json:"all"`
	Open int64 `json:"open"`
	Done int64 `json:"done"`
}

func newTodoCount(c tenantdb.TodoCountsRow) *todoCount {
	return &todoCount{All: c.Open + c.Done, Open: c.Open, Done: c.Done}
}

// replyTodo writes the script's answer: the row of todo (unless it is gone), the toast, the counts.
func (s *Server) replyTodo(w http.ResponseWriter, r *http.Request, status int, todo *tenantdb.Todo, toast todoToast, counts tenantdb.TodoCountsRow) error {
	fstatus, _ := parseStatus(r.PostFormValue("status"))
	reply := todoReply{Message: toast.Message, Counts: newTodoCount(counts)}
	var err error
	if todo != nil {
		reply.ID = todo.ID
		if reply.Row, err = renderView(todoRowView(todoRow{Todo: *todo, Status: fstatus}), rowSize); err != nil {
			return err
		}
	}
	toast.Status = fstatus
	if reply.Toast, err = renderView(todoToastView(toast), 1024); err != nil {
		return err
	}
	return s.writeJSON(w, r, status, reply)
}

// writeJSON writes v as the JSON answer, after the session if it changed.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.saveSession(w, r); err != nil {
		return fmt.Errorf("web: save session: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// refuseField answers a refused field: to the script in JSON, else by the page that shows it.
func (s *Server) refuseField(w http.ResponseWriter, r *http.Request, err error, page func() error) error {
	if wantsFragment(r) {
		return s.writeJSON(w, r, http.StatusBadRequest, todoReply{Error: toodoo.ErrorMessage(err), Field: "title"})
	}
	return page()
}

// quoted is a title as messages quote it: shortened to 60 characters.
func quoted(title string) string { return "“" + toodoo.Truncate(title, 60) + "”" }

// deletedMessage is the message after a delete, which the undo button follows.
func deletedMessage(title string) string { return "Deleted " + quoted(title) + "." }

// handleTodoCreate adds a to-do; a refused title is shown again next to the field.
func (s *Server) handleTodoCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw := r.PostFormValue("title")
	title, err := todoTitle.Clean(raw)
	if err != nil {
		return s.refuseField(w, r, err, func() error {
			status, _ := parseStatus(r.PostFormValue("status"))
			p := &todoIndexPage{page: page{Title: "To-dos"}, Status: status, MaxTitle: MaxTitleChars, NewTitle: raw, TitleError: toodoo.ErrorMessage(err)}
			if err := s.loadTodoIndex(ctx, p); err != nil {
				return err
			}
			return s.render(w, r, http.StatusBadRequest, "todos", p)
		})
	}
	var todo tenantdb.Todo
	var counts tenantdb.TodoCountsRow
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		if todo, err = q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: title, CreatedBy: userFrom(ctx).ID}); err != nil {
			return err
		}
		counts, err = q.TodoCounts(ctx)
		return err
	})
	if err != nil {
		return err
	}
	msg := "Added " + quoted(title) + "."
	if wantsFragment(r) {
		return s.replyTodo(w, r, http.StatusOK, &todo, todoToast{Kind: "ok", Message: msg}, counts)
	}
	flash(r, "ok", msg)
	s.redirect(w, r, rowURL(r, todo.ID))
	return nil
}

// todoEditPage is the form that renames a to-do (the page without the script; with it, the
// list edits the title in place and posts the same form).
type todoEditPage struct {
	page
	Todo       tenantdb.Todo
	Status     string
	TitleValue string
	TitleError string
	MaxTitle   int
}

// handleTodoEdit shows the rename form.
func (s *Server) handleTodoEdit(w http.ResponseWriter, r *http.Request) error {
	todo, err := s.getTodo(r)
	if err != nil {
		return err
	}
	status, _ := parseStatus(r.URL.Query().Get("status"))
	return s.render(w, r, http.StatusOK, "todo_edit.html", &todoEditPage{page: page{Title: "Edit to-do"}, Todo: todo, Status: status, TitleValue: todo.Title, MaxTitle: MaxTitleChars})
}

// handleTodoUpdate renames a to-do.
func (s *Server) handleTodoUpdate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := todoID(r)
	if err != nil {
		return err
	}
	raw := r.PostFormValue("title")
	title, verr := todoTitle.Clean(raw)
	var todo tenantdb.Todo
	var counts tenantdb.TodoCountsRow
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		if verr != nil {
			todo, err = q.TodoGet(ctx, id)
			return err
		}
		if todo, err = q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: id, Title: &title, Now: time.Now()}); err != nil {
			return err
		}
		counts, err = q.TodoCounts(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if verr != nil {
		return s.refuseField(w, r, verr, func() error {
			status, _ := parseStatus(r.PostFormValue("status"))
			return s.render(w, r, http.StatusBadRequest, "todo_edit.html", &todoEditPage{
				page: page{Title: "Edit to-do"}, Todo: todo, Status: status, TitleValue: raw, TitleError: toodoo.ErrorMessage(verr), MaxTitle: MaxTitleChars,
			})
		})
	}
	msg := "Renamed to " + quoted(todo.Title) + "."
	if wantsFragment(r) {
		return s.replyTodo(w, r, http.StatusOK, &todo, todoToast{Kind: "ok", Message: msg}, counts)
	}
	flash(r, "ok", msg)
	s.redirect(w, r, rowURL(r, id))
	return nil
}

// handleTodoDone marks a to-do done (done=true) or open again (done=false).
func (s *Server) handleTodoDone(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := todoID(r)
	if err != nil {
		return err
	}
	done, err := strconv.ParseBool(r.PostFormValue("done"))
	if err != nil {
		return toodoo.Invalid("done", "done must be true or false.")
	}
	var todo tenantdb.Todo
	var counts tenantdb.TodoCountsRow
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		if todo, err = q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: id, Done: &done, Now: time.Now()}); err != nil {
			return err
		}
		counts, err = q.TodoCounts(ctx)
		return err
	})
	if err != nil {
		return err
	}
	msg := "Open again: " + quoted(todo.Title) + "."
	if done {
		msg = "Done: " + quoted(todo.Title) + "."
	}
	if wantsFragment(r) {
		return s.replyTodo(w, r, http.StatusOK, &todo, todoToast{Kind: "ok", Message: msg}, counts)
	}
	flash(r, "ok", msg)
	s.redirect(w, r, rowURL(r, id))
	return nil
}

// handleTodoDelete deletes a to-do and offers to undo it (undo.go): without the script the
// list's address carries the undo token, with it the answer does.
func (s *Server) handleTodoDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := todoID(r)
	if err != nil {
		return err
	}
	var todo tenantdb.Todo
	var counts tenantdb.TodoCountsRow
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		if todo, err = q.TodoGet(ctx, id); err != nil {
			return err
		}
		if _, err = q.TodoDelete(ctx, id); err != nil {
			return err
		}
		counts, err = q.TodoCounts(ctx)
		return err
	})
	if err != nil {
		return err
	}
	token, err := s.newUndoToken(tenantFrom(ctx).ID, userFrom(ctx).ID, todo, time.Now())
	if err != nil {
		return err
	}
	if wantsFragment(r) {
		return s.replyTodo(w, r, http.StatusOK, nil, todoToast{Kind: "ok", Message: deletedMessage(todo.Title), Undo: token}, counts)
	}
	to := listURL(r)
	if strings.Contains(to, "?") {
		to += "&undo=" + url.QueryEscape(token)
	} else {
		to += "?undo=" + url.QueryEscape(token)
	}
	s.redirect(w, r, to)
	return nil
}

// handleTodoRestore undoes a delete: the to-do comes back as it was, with its id (TodoRestore).
// Restoring one that is back already changes nothing. Returns EINVALID for a token that is bad,
// expired, or another person's or workspace's.
func (s *Server) handleTodoRestore(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	todo, err := s.readUndoToken(r.PostFormValue("undo"), tenantFrom(ctx).ID, userFrom(ctx).ID, time.Now())
	if err != nil {
		if wantsFragment(r) {
			return s.writeJSON(w, r, http.StatusBadRequest, todoReply{Error: toodoo.ErrorMessage(err)})
		}
		flash(r, "error", toodoo.ErrorMessage(err))
		s.redirect(w, r, listURL(r))
		return nil
	}
	var counts tenantdb.TodoCountsRow
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		_, err = q.TodoRestore(ctx, tenantdb.TodoRestoreParams{
			ID: todo.ID, Title: todo.Title, Done: todo.Done, CreatedBy: todo.CreatedBy, CreatedAt: todo.CreatedAt, CompletedAt: todo.CompletedAt,
		})
		if err != nil {
			return err
		}
		if todo, err = q.TodoGet(ctx, todo.ID); err != nil {
			return err
		}
		counts, err = q.TodoCounts(ctx)
		return err
	})
	if err != nil {
		return err
	}
	msg := "Restored " + quoted(todo.Title) + "."
	if wantsFragment(r) {
		return s.replyTodo(w, r, http.StatusOK, &todo, todoToast{Kind: "ok", Message: msg}, counts)
	}
	flash(r, "ok", msg)
	s.redirect(w, r, rowURL(r, todo.ID))
	return nil
}

// getTodo returns the current tenant's to-do that the route's id names, for the page and the API.
// Returns ENOTFOUND if the id is not one or there is no such to-do (in this tenant: another
// tenant's id is simply not here).
func (s *Server) getTodo(r *http.Request) (tenantdb.Todo, error) {
	id, err := todoID(r)
	if err != nil {
		return tenantdb.Todo{}, err
	}
	ctx := r.Context()
	return tenancy.InReadTxV(ctx, s.db, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (tenantdb.Todo, error) {
		return q.TodoGet(ctx, id)
	})
}

// deleteTodo deletes the current tenant's to-do id, for the page and the API. Returns
// ENOTFOUND if there is none (in this tenant: another tenant's id is simply not here).
func (s *Server) deleteTodo(ctx context.Context, id int64) error {
	return s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) error {
		n, err := q.TodoDelete(ctx, id)
		if err == nil && n == 0 {
			return toodoo.ErrNotFound
		}
		return err
	})
}
