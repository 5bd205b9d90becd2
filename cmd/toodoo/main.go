// Command toodoo is Toodoo's single binary: the web server and the operator CLI.
//
// Each subcommand lives in a file of its own (serve.go, migrate.go, tenant.go, ...); main only
// dispatches. Exit status: 0 on success, 1 on failure, 2 on bad usage; errors are one line on
// stderr.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is every command's GOGC when the environment sets none (GOGC=100 is Go's default).
// A short command: the collector's first cycles, at a heap of a few MB, cost more than the
// memory they would free (reading a 10,000-tenant ledger, they were half of migrate status's
// CPU time). The servers: under load Go's 100 collected often, 13% of the page's CPU in a
// profile; in one bench:http run (2026-11-30 23:39 UTC, 1,000 tenants, 3 alternating rounds)
// 400 served the page 3,382 vs 3,099 req/s (+9%) and the API 5,996 vs 5,323 (+13%), p99 lower.
// The price is memory under traffic: at 10,000 tenants serve's RSS after 20 s of spread traffic
// was 61.5 vs 40.2 MiB (bench fleet). GOMEMLIMIT bounds the heap where memory is tight.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{
		Getenv: os.Getenv,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	stop()
	os.Exit(code)
}
