package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// openAPIDoc is the OpenAPI 3.1 description of the JSON API (apiRoutes). It is written by hand
// and kept true by the tests: every API request and response of the web tests is validated
// against it (openapi_test.go), and every route of apiRoutes must be in it and the other way
// round (TestOpenAPIDescribesEveryRoute).
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIContentType is the media type registered for OpenAPI documents in JSON.
const openAPIContentType = "application/vnd.oai.openapi+json;version=3.1"

// openAPIETag is a strong validator of openAPIDoc: it changes only with the binary.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDoc)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// openAPIMaxAge is how long a client or cache may keep the description without asking again;
// after that, If-None-Match makes the check a 304.
const openAPIMaxAge = 3600

// handleOpenAPIShow serves the description to anyone on a workspace's address: it is the same
// for everyone and says nothing about the workspace.
func (s *Server) handleOpenAPIShow(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("ETag", openAPIETag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(openAPIMaxAge))
	if etagMatches(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", openAPIContentType)
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(openAPIDoc)
	}
	return nil
}

// etagMatches reports whether an If-None-Match header names etag (RFC 9110 13.1.2: weak
// comparison, a list, or "*").
func etagMatches(header, etag string) bool {
	for c := range strings.SplitSeq(header, ",") {
		c = strings.TrimPrefix(strings.TrimSpace(c), "W/")
		if c == "*" || c == etag {
			return true
		}
	}
	return false
}
