package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
	Todos      []tenantdb.Todo
	Counts     tenantdb.TodoCountsRow
	Truncated  bool
	NewTitle   string // the typed text, kept when it was refused
	TitleError string
	MaxTitle   int
}

// Total is the number of to-dos in all.
func (p *todoIndexPage) Total() int64 { return p.Counts.Open + p.Counts.Done }

// loadTodoIndex fills the page's list and counts in one read-only transaction.
func (s *Server) loadTodoIndex(ctx context.Context, p *todoIndexPage) error {
	_, done := parseStatus(p.Status)
	return s.db.InReadTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) error {
		todos, err := q.TodoList(ctx, tenantdb.TodoListParams{Done: done, MaxRows: pageListMax + 1})
		if err != nil {
			return err
		}
		if len(todos) > pageListMax {
			todos, p.Truncated = todos[:pageListMax], true
		}
		p.Todos = todos
		p.Counts, err = q.TodoCounts(ctx)
		return err
	})
}

// handleTodoIndex lists the workspace's to-dos, open first, filtered by ?status=.
func (s *Server) handleTodoIndex(w http.ResponseWriter, r *http.Request) error {
	status, _ := parseStatus(r.URL.Query().Get("status"))
	p := &todoIndexPage{page: page{Title: "To-dos"}, Status: status, MaxTitle: MaxTitleChars}
	if err := s.loadTodoIndex(r.Context(), p); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "todos.html", p)
}

// listURL is the list with the filter the form came from.
func listURL(r *http.Request) string {
	status, _ := parseStatus(r.PostFormValue("status"))
	if status == "all" {
		return "/"
	}
	return "/?status=" + url.QueryEscape(status)
}

// handleTodoCreate adds a to-do; a refused title is shown again next to the field.
func (s *Server) handleTodoCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw := r.PostFormValue("title")
	title, err := todoTitle.Clean(raw)
	if err != nil {
		status, _ := parseStatus(r.PostFormValue("status"))
		p := &todoIndexPage{page: page{Title: "To-dos"}, Status: status, MaxTitle: MaxTitleChars, NewTitle: raw, TitleError: toodoo.ErrorMessage(err)}
		if err := s.loadTodoIndex(ctx, p); err != nil {
			return err
		}
		return s.render(w, r, http.StatusBadRequest, "todos.html", p)
	}
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: title, CreatedBy: userFrom(ctx).ID})
		return err
	})
	if err != nil {
		return err
	}
	flash(r, "ok", fmt.Sprintf("Added “%s”.", toodoo.Truncate(title, 60)))
	s.redirect(w, r, listURL(r))
	return nil
}

// todoEditPage is the form that renames a to-do.
type todoEditPage struct {
	page
	Todo       tenantdb.Todo
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
	return s.render(w, r, http.StatusOK, "todo_edit.html", &todoEditPage{page: page{Title: "Edit to-do"}, Todo: todo, TitleValue: todo.Title, MaxTitle: MaxTitleChars})
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
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		if verr != nil {
			todo, err = q.TodoGet(ctx, id)
			return err
		}
		todo, err = q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: id, Title: &title, Now: time.Now()})
		return err
	})
	if err != nil {
		return err
	}
	if verr != nil {
		return s.render(w, r, http.StatusBadRequest, "todo_edit.html", &todoEditPage{
			page: page{Title: "Edit to-do"}, Todo: todo, TitleValue: raw, TitleError: toodoo.ErrorMessage(verr), MaxTitle: MaxTitleChars,
		})
	}
	flash(r, "ok", "Saved.")
	s.redirect(w, r, listURL(r))
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
	err = s.db.InTx(ctx, tenantFrom(ctx), func(ctx context.Context, q *tenantdb.Queries) (err error) {
		todo, err = q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: id, Done: &done, Now: time.Now()})
		return err
	})
	if err != nil {
		return err
	}
	if done {
		flash(r, "ok", fmt.Sprintf("Done: “%s”.", toodoo.Truncate(todo.Title, 60)))
	} else {
		flash(r, "ok", fmt.Sprintf("Open again: “%s”.", toodoo.Truncate(todo.Title, 60)))
	}
	s.redirect(w, r, listURL(r))
	return nil
}

// handleTodoDelete deletes a to-do.
func (s *Server) handleTodoDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := todoID(r)
	if err != nil {
		return err
	}
	if err := s.deleteTodo(ctx, id); err != nil {
		return err
	}
	flash(r, "ok", "Deleted.")
	s.redirect(w, r, listURL(r))
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
