package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
)

// codeStatus is the one map from toodoo error codes to HTTP statuses (WTF's codes).
var codeStatus = map[string]int{
	toodoo.EINVALID:      http.StatusBadRequest,
	toodoo.EUNAUTHORIZED: http.StatusUnauthorized,
	toodoo.EFORBIDDEN:    http.StatusForbidden,
	toodoo.ESUSPENDED:    http.StatusForbidden,
	toodoo.ENOTFOUND:     http.StatusNotFound,
	toodoo.ECONFLICT:     http.StatusConflict,
	toodoo.EINTERNAL:     http.StatusInternalServerError,
	toodoo.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// busyRetryAfter is the Retry-After of a 503 for overload (EUNAVAILABLE): soon, since the
// connections it waited for are held by requests that take milliseconds.
const busyRetryAfter = 2 * time.Second

// httpError is an error about HTTP itself, for which the domain has no code: a wrong method, a
// body too large or not JSON, too many attempts.
type httpError struct {
	status     int
	message    string
	retryAfter time.Duration // for 429
}

func (e *httpError) Error() string { return e.message }

var (
	errMethodNotAllowed = &httpError{status: http.StatusMethodNotAllowed, message: "This method is not allowed here."}
	errTooLarge         = &httpError{status: http.StatusRequestEntityTooLarge, message: "The request body is too large."}
	errNotJSON          = &httpError{status: http.StatusUnsupportedMediaType, message: "Send JSON, with Content-Type: application/json."}
	errBadForm          = &httpError{status: http.StatusBadRequest, message: "The form could not be read."}
	errPageNotFound     = toodoo.Errorf(toodoo.ENOTFOUND, "There is no page at this address.")
)

func tooManyAttempts(wait time.Duration) error {
	return &httpError{status: http.StatusTooManyRequests, message: "Too many attempts. Please wait a moment and try again.", retryAfter: wait}
}

// statusClientClosedRequest is nginx's 499: the client closed the connection before the
// answer was ready. Nobody reads it; the request log and the metrics do.
const statusClientClosedRequest = 499

// clientGone reports whether err is the request's own context ending: the client closed the
// connection (a load test's end, a browser's stop button, a proxy's timeout), so the database
// call was cancelled. Such requests were logged at Error as 500s before, which made every load
// test's end look like failures.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// errorStatus returns the HTTP status for err.
func errorStatus(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if s, ok := codeStatus[toodoo.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorMessage returns what may be shown about err: the message of a toodoo or HTTP error, a
// generic text for anything else.
func errorMessage(err error) string {
	var he *httpError
	if errors.As(err, &he) {
		return he.message
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge.message
	}
	if errorStatus(err) >= 500 && toodoo.ErrorCode(err) != toodoo.EUNAVAILABLE {
		return "Something went wrong on our side. It has been logged; please try again later."
	}
	return toodoo.ErrorMessage(err)
}

// handlerFunc is the one shape of every handler: it writes a response or returns an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.Handler; errors go to writeError.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// writeError is the only place that turns an error into a response. 5xx are logged with their
// detail at Error and shown as a generic page, but for overload (EUNAVAILABLE: 503 with
// Retry-After, logged at Warn, its message shown); 4xx are logged at Debug (the request line
// already says the status). Under /api/ the body is application/problem+json (RFC 9457);
// elsewhere an HTML page, except that an anonymous visitor of a page is sent to /login.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if clientGone(r, err) {
		// Not a failure of ours: logged at Debug, counted under nginx's 499 rather than as a 500.
		s.logger.DebugContext(ctx, "request abandoned: the client went away", "request_id", info(ctx).ID, "method", r.Method, "path", r.URL.Path, "error", err)
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	status := errorStatus(err)
	switch {
	case toodoo.ErrorCode(err) == toodoo.EUNAVAILABLE:
		s.logger.WarnContext(ctx, "request refused: overloaded", "request_id", info(ctx).ID, "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
		w.Header().Set("Retry-After", strconv.Itoa(int(busyRetryAfter/time.Second)))
	case status >= 500:
		s.logger.ErrorContext(ctx, "request failed", "request_id", info(ctx).ID, "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	default:
		s.logger.DebugContext(ctx, "request refused", "request_id", info(ctx).ID, "status", status, "error", err)
	}
	var he *httpError
	if errors.As(err, &he) && he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((he.retryAfter+time.Second-1)/time.Second)))
	}
	if isAPI(r) {
		writeProblem(w, status, err)
		return
	}
	if status == http.StatusUnauthorized {
		s.redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
		return
	}
	s.renderError(w, r, status, err)
}

// isAPI reports whether r is for the JSON API.
func isAPI(r *http.Request) bool {
	return r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
}

// problem is an RFC 9457 problem document, with the toodoo code and the field at fault.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code,omitempty"`
	Field  string `json:"field,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, err error) {
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: errorMessage(err)}
	var te *toodoo.Error
	if errors.As(err, &te) && (status < 500 || te.Code == toodoo.EUNAVAILABLE) {
		p.Code, p.Field = te.Code, te.Field
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="toodoo"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// errCrossOrigin answers a state-changing request from another site (http.CrossOriginProtection).
var errCrossOrigin = toodoo.Errorf(toodoo.EFORBIDDEN, "This request came from another site and was refused.")
