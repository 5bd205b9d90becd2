package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
)

// The API contract: every request that a web test sends under /api/ and the answer it gets are
// checked against openapi.json (browser.do and browser.chunked call checkAPIExchange), and the
// test fails on any mismatch. The rules, for an exchange (request, response):
//
//   - The request names a documented operation: the response's status must be documented for
//     it, with the documented media type, a body valid against the documented schema (date-time
//     formats included), the required headers with valid values, and no body where none is
//     documented (204, 304).
//   - The request is valid by the description (parameters, body, security): any documented
//     response will do (the server may still refuse what the description cannot express, e.g. a
//     title that is only spaces).
//   - The request is not valid by the description (a malformed body, a wrong Content-Type, no
//     credentials): the response must be a 4xx. A 2xx means the server accepts more than it
//     documents.
//   - The path is not documented: 404; the path is, the method not: 405. Either way a problem
//     document valid against the description's Problem schema.
//
// Benchmarks skip the check: they measure the server, not the checker.

// apiContract is the description, parsed once per test binary.
type apiContract struct {
	model    *v3.Document
	v        validator.Validator
	problems map[int]string // status -> component schema name for the problem of that status
	mu       sync.Mutex     // the validator's caches are not documented as safe for concurrent use
}

var (
	contractOnce sync.Once
	contract     *apiContract
	contractErr  error
)

// loadContract parses openapi.json and builds its validator; it fails the test if it cannot.
func loadContract(tb testing.TB) *apiContract {
	tb.Helper()
	contractOnce.Do(func() { contract, contractErr = newContract(openAPIDoc) })
	if contractErr != nil {
		tb.Fatalf("openapi.json: %v", contractErr)
	}
	return contract
}

func newContract(doc []byte) (*apiContract, error) {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return nil, err
	}
	m, err := d.BuildV3Model()
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(d, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("validator: %v", errs)
	}
	c := &apiContract{model: &m.Model, v: v, problems: map[int]string{}}
	for name := range m.Model.Components.Schemas.KeysFromOldest() {
		if s, ok := strings.CutPrefix(name, "Problem"); ok && s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				c.problems[n] = name
			}
		}
	}
	return c, nil
}

// checkAPIExchange checks one exchange of a web test against the description when it is an API
// request (see the rules above). body is the request body as sent.
func checkAPIExchange(tb testing.TB, req *http.Request, body []byte, rec *httptest.ResponseRecorder) {
	if !isAPI(req) {
		return
	}
	if _, bench := tb.(*testing.B); bench {
		return
	}
	tb.Helper()
	for _, m := range loadContract(tb).check(req, body, rec) {
		tb.Errorf("not as openapi.json describes: %s %s -> %d: %s\nresponse: %.500s", req.Method, req.URL.RequestURI(), rec.Code, m, rec.Body)
	}
}

// check returns what in the exchange does not agree with the description; nothing if all does.
func (c *apiContract) check(req *http.Request, body []byte, rec *httptest.ResponseRecorder) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := rec.Result()
	respBody := rec.Body.Bytes()
	if req.Method == http.MethodHead {
		respBody = nil // what a client gets: net/http drops a HEAD response's body (the recorder keeps it)
	}
	request := func() *http.Request { // a fresh copy for each reading of the body
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		return r
	}
	response := func() *http.Response {
		r := *resp
		r.Header = resp.Header.Clone()
		r.Body = io.NopCloser(bytes.NewReader(respBody))
		return &r
	}
	var out []string

	item, errs, _ := paths.FindPath(request(), c.model, nil)
	if item == nil || helpers.ExtractOperation(req, item) == nil {
		// Not a documented operation: the router's 404 or 405, as a problem.
		want := http.StatusNotFound
		if item != nil {
			want = http.StatusMethodNotAllowed
		}
		if resp.StatusCode != want {
			out = append(out, fmt.Sprintf("undocumented operation (%s): status %d, want %d", messages(errs), resp.StatusCode, want))
		}
		return append(out, c.checkProblem(resp, respBody)...)
	}

	reqOK, reqErrs := c.v.ValidateHttpRequest(request())
	if !reqOK && resp.StatusCode < 400 {
		out = append(out, fmt.Sprintf("the request is not valid by the description (%s) but was accepted", messages(reqErrs)))
	}
	if ok, errs := c.v.ValidateHttpResponse(request(), response()); !ok {
		out = append(out, "response: "+messages(errs))
	}
	// No body where the description documents none (the validator does not look).
	op := helpers.ExtractOperation(req, item)
	if r := op.Responses.Codes.GetOrZero(strconv.Itoa(resp.StatusCode)); r != nil && orderedmap.Len(r.Content) == 0 && len(respBody) > 0 {
		out = append(out, fmt.Sprintf("a %d has no documented body, got %d bytes", resp.StatusCode, len(respBody)))
	}
	return out
}

// checkProblem checks an error answer outside any documented operation against the Problem
// schema of its status (or the general one).
func (c *apiContract) checkProblem(resp *http.Response, body []byte) []string {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return []string{fmt.Sprintf("Content-Type %q, want application/problem+json", ct)}
	}
	name, ok := c.problems[resp.StatusCode]
	if !ok {
		name = "Problem"
	}
	schema := c.model.Components.Schemas.GetOrZero(name).Schema()
	if ok, errs := schema_validation.NewSchemaValidator(config.WithFormatAssertions()).ValidateSchemaBytes(schema, body); !ok {
		return []string{name + ": " + messages(errs)}
	}
	return nil
}

// messages joins validation errors into one line each.
func messages[E interface{ Error() string }](errs []E) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// TestOpenAPIDocument: openapi.json is a valid OpenAPI 3.1 document.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	if ok, errs := c.v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("openapi.json is not valid OpenAPI: %v", e)
		}
	}
	if v := c.model.Version; !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	// Every error answer of every operation is a problem of its own status.
	for path, item := range c.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			for code, r := range op.Responses.Codes.FromOldest() {
				n, _ := strconv.Atoi(code)
				if n < 400 {
					continue
				}
				if orderedmap.Len(r.Content) != 1 {
					t.Errorf("%s %s %s: not only application/problem+json", method, path, code)
					continue
				}
				mt := r.Content.GetOrZero("application/problem+json")
				if mt == nil {
					t.Errorf("%s %s %s: not only application/problem+json", method, path, code)
					continue
				}
				if want := c.model.Components.Schemas.GetOrZero("Problem" + code); want == nil || mt.Schema.GetReference() != "#/components/schemas/Problem"+code {
					t.Errorf("%s %s %s: schema %q, want #/components/schemas/Problem%s", method, path, code, mt.Schema.GetReference(), code)
				}
			}
		}
	}
}

// TestOpenAPIDescribesEveryRoute: the routes of apiRoutes and the operations of openapi.json
// are the same, both ways: a new API route without a description fails here, and so does a
// description of a route that does not exist. GET routes answer HEAD too, which the description
// says once for all.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	r := mux.NewRouter()
	(&Server{}).apiRoutes(r)
	var routed []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a subrouter's matcher-less route
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s has no methods", tpl)
			return nil
		}
		if slices.Contains(methods, http.MethodHead) && !slices.Contains(methods, http.MethodGet) {
			t.Errorf("route %s answers HEAD without GET", tpl)
		}
		for _, m := range methods {
			if m != http.MethodHead {
				routed = append(routed, m+" "+openAPIPath(tpl))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range c.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(routed)
	slices.Sort(documented)
	for _, rt := range routed {
		if !slices.Contains(documented, rt) {
			t.Errorf("route %s is not in openapi.json", rt)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("openapi.json describes %s, which is not a route", d)
		}
	}
	if len(routed) < 6 {
		t.Errorf("found only %d API routes: %v", len(routed), routed)
	}
}

// openAPIPath turns a gorilla/mux template into an OpenAPI path: {id:[0-9]+} -> {id}.
func openAPIPath(tpl string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tpl, '{')
		if i < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		j := strings.IndexByte(tpl[i:], '}')
		name, _, _ := strings.Cut(tpl[i+1:i+j], ":")
		b.WriteString(tpl[:i] + "{" + name + "}")
		tpl = tpl[i+j+1:]
	}
}

// TestOpenAPIServed: the description is served on a workspace's address to anyone, as the
// embedded document, with its media type, cacheable and revalidated by ETag; not on the public
// site, which has no API.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	anon := b.browser(firstHost)
	rec := anon.get("/api/v1/openapi.json")
	wantStatus(t, rec, http.StatusOK)
	if !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Error("the served description is not the embedded openapi.json")
	}
	h := rec.Header()
	if got := h.Get("Content-Type"); got != "application/vnd.oai.openapi+json;version=3.1" {
		t.Errorf("Content-Type %q", got)
	}
	if got := h.Get("Cache-Control"); !strings.HasPrefix(got, "public, max-age=") {
		t.Errorf("Cache-Control %q, want public", got)
	}
	etag := h.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		rec := anon.do(http.MethodGet, "/api/v1/openapi.json", nil, http.Header{"If-None-Match": {inm}})
		wantStatus(t, rec, http.StatusNotModified)
		if rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: 304 with %d bytes, ETag %q", inm, rec.Body.Len(), rec.Header().Get("ETag"))
		}
	}
	wantStatus(t, anon.do(http.MethodGet, "/api/v1/openapi.json", nil, http.Header{"If-None-Match": {`"stale"`}}), http.StatusOK)
	rec = anon.do(http.MethodHead, "/api/v1/openapi.json", nil, nil)
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(openAPIDoc)) {
		t.Errorf("HEAD: %d bytes, Content-Length %q", rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	// Signed in, or with a token, the same; a bad token is refused as everywhere on the API.
	br := b.browser(secondHost)
	br.login(b.bob.Email)
	wantStatus(t, br.get("/api/v1/openapi.json"), http.StatusOK)
	wantStatus(t, anon.api(http.MethodGet, "/api/v1/openapi.json", "", "tdo_nope"), http.StatusUnauthorized)
	wantStatus(t, anon.do(http.MethodPost, "/api/v1/openapi.json", nil, nil), http.StatusMethodNotAllowed)
	// The public site has no API.
	wantStatus(t, b.browser(testBase).get("/api/v1/openapi.json"), http.StatusNotFound)
}

// TestOpenAPIContractCatchesMismatches: the check fails on answers that are not as described,
// so that the API tests passing means something.
func TestOpenAPIContractCatchesMismatches(t *testing.T) {
	t.Parallel()
	c := loadContract(t)
	const todo = `{"id":1,"title":"a","done":false,"created_by":2,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","completed_at":null}`
	problem := func(status int, extra string) string {
		return fmt.Sprintf(`{"type":"about:blank","title":%q,"status":%d%s}`, http.StatusText(status), status, extra)
	}
	type exchange struct {
		method, path, ctype, body string
		status                    int
		header                    map[string]string
		resp                      string
	}
	jsonHdr := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	probHdr := map[string]string{"Content-Type": "application/problem+json"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	good := []struct {
		name string
		ex   exchange
	}{
		{"get", exchange{"GET", "/api/v1/todos/1", "", "", 200, jsonHdr, todo}},
		{"list", exchange{"GET", "/api/v1/todos?limit=2", "", "", 200, jsonHdr, `{"todos":[` + todo + `],"next_cursor":"x"}`}},
		{"create", exchange{"POST", "/api/v1/todos", "application/json", `{"title":"a"}`, 201, with(jsonHdr, "Location", "/api/v1/todos/1"), todo}},
		{"delete", exchange{"DELETE", "/api/v1/todos/1", "", "", 204, nil, ""}},
		{"bad JSON refused", exchange{"POST", "/api/v1/todos", "application/json", `{"title":`, 400, probHdr, problem(400, `,"code":"invalid"`)}},
		{"no route", exchange{"GET", "/api/v1/nothing", "", "", 404, probHdr, problem(404, `,"code":"not_found"`)}},
		{"no method", exchange{"PUT", "/api/v1/todos", "", "", 405, probHdr, problem(405, "")}},
	}
	bad := []struct {
		name string
		ex   exchange
	}{
		{"extra field", exchange{"GET", "/api/v1/todos/1", "", "", 200, jsonHdr, strings.Replace(todo, `"id":1`, `"id":1,"secret":"x"`, 1)}},
		{"missing field", exchange{"GET", "/api/v1/todos/1", "", "", 200, jsonHdr, strings.Replace(todo, `"done":false,`, ``, 1)}},
		{"bad date", exchange{"GET", "/api/v1/todos/1", "", "", 200, jsonHdr, strings.Replace(todo, `"2026-01-02T03:04:05Z"`, `"yesterday"`, 1)}},
		{"undocumented status", exchange{"GET", "/api/v1/todos/1", "", "", 409, probHdr, problem(409, "")}},
		{"wrong media type", exchange{"GET", "/api/v1/todos/1", "", "", 200, with(jsonHdr, "Content-Type", "text/plain"), todo}},
		{"problem as JSON", exchange{"GET", "/api/v1/todos/1", "", "", 404, with(probHdr, "Content-Type", "application/json"), problem(404, "")}},
		{"problem of another status", exchange{"GET", "/api/v1/todos/1", "", "", 404, probHdr, problem(400, "")}},
		{"401 without WWW-Authenticate", exchange{"GET", "/api/v1/todos", "", "", 401, probHdr, problem(401, `,"code":"unauthorized"`)}},
		{"503 without Retry-After", exchange{"GET", "/api/v1/todos", "", "", 503, probHdr, problem(503, `,"code":"unavailable"`)}},
		{"201 without Location", exchange{"POST", "/api/v1/todos", "application/json", `{"title":"a"}`, 201, jsonHdr, todo}},
		{"cacheable answer", exchange{"GET", "/api/v1/todos/1", "", "", 200, with(jsonHdr, "Cache-Control", "max-age=60"), todo}},
		{"body on a 204", exchange{"DELETE", "/api/v1/todos/1", "", "", 204, jsonHdr, todo}},
		{"invalid request accepted", exchange{"POST", "/api/v1/todos", "application/json", `{"name":"a"}`, 201, with(jsonHdr, "Location", "/api/v1/todos/1"), todo}},
		{"limit out of range accepted", exchange{"GET", "/api/v1/todos?limit=500", "", "", 200, jsonHdr, `{"todos":[]}`}},
		{"no route, not 404", exchange{"GET", "/api/v1/nothing", "", "", 200, jsonHdr, `{}`}},
		{"no method, not 405", exchange{"PUT", "/api/v1/todos", "", "", 404, probHdr, problem(404, "")}},
	}
	run := func(ex exchange) []string {
		req := httptest.NewRequest(ex.method, "http://"+firstHost+ex.path, strings.NewReader(ex.body))
		req.Header.Set("Authorization", "Bearer tdo_x")
		if ex.ctype != "" {
			req.Header.Set("Content-Type", ex.ctype)
		}
		rec := httptest.NewRecorder()
		for k, v := range ex.header {
			rec.Header().Set(k, v)
		}
		if ex.status == 401 {
			rec.Header().Del("WWW-Authenticate")
		}
		rec.WriteHeader(ex.status)
		rec.WriteString(ex.resp)
		return c.check(req, []byte(ex.body), rec)
	}
	for _, tc := range good {
		if got := run(tc.ex); len(got) != 0 {
			t.Errorf("%s: the check fails a good exchange: %q", tc.name, got)
		}
	}
	for _, tc := range bad {
		if got := run(tc.ex); len(got) == 0 {
			t.Errorf("%s: the check passes a bad exchange", tc.name)
		}
	}
}
