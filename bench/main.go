// Command bench measures Toodoo from outside, the way an operator or a client sees it; it is
// run by `go tool task bench:http` and `go tool task bench:fleet`, never by CI.
//
//	go run ./bench http    # wrk against `toodoo serve`: page, API, API spread over N tenants; pgbench's ceiling
//	go run ./bench fleet   # N tenants: creation, then each operator command timed as a process; RSS; backend memory
//
// Both start a private PostgreSQL cluster (fsync on, unix socket; BENCH_PG_PORT, default 18810)
// unless BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server, on which they create a
// database of their own and drop it at the end. Every knob is an environment variable, listed
// with httpOptions and fleetOptions. Figures are medians of alternating rounds: on a shared
// machine noise hits each alike, so the ratios of one run are what to compare.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench http|fleet   (knobs: see bench/http.go and bench/fleet.go)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "http":
		err = runHTTP(ctx, httpOptionsFromEnv())
	case "fleet":
		err = runFleet(ctx, fleetOptionsFromEnv())
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown benchmark %q: http or fleet\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

var started = time.Now()

// logf reports progress on stderr (the results go to stdout).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}
