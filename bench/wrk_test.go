package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWrkScriptManyTargets: every request of writeLua's script carries the host and the header
// of one target, with 100,000 targets (a fleet's spread load). A script that held them as one
// Lua table constructor sent requests without them past ~65,000 targets, and the run reported
// the 404s as the fleet's throughput.
func TestWrkScriptManyTargets(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed (Debian: apt-get install wrk)")
	}
	const n = 100_000
	targets := make([]target, n)
	for i := range targets {
		targets[i] = target{Host: fmt.Sprintf("t-%d.bench.test", i), Token: fmt.Sprintf("tok-%d", i)}
	}
	targets[n-1] = target{Host: "last.bench.test", Cookie: "s=last"}
	var good, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := strings.CutPrefix(strings.TrimSuffix(r.Host, ".bench.test"), "t-")
		if r.Header.Get("Authorization") == "Bearer tok-"+id || (r.Host == "last.bench.test" && r.Header.Get("Cookie") == "s=last") {
			good.Add(1)
			return
		}
		bad.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	script := filepath.Join(t.TempDir(), "spread.lua")
	if err := writeLua(script, targets, "/x"); err != nil {
		t.Fatal(err)
	}
	res, err := runWrk(t.Context(), httpOptions{Threads: 2, Conns: 4, Duration: time.Second}, srv.URL, script)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 || good.Load() == 0 || res.Errors != 0 {
		t.Fatalf("%d requests with their target's headers, %d without; wrk counted %d errors", good.Load(), bad.Load(), res.Errors)
	}
}
