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

func main() {
	if len(os.Args) > 1 && os.Args[1] != "serve" && os.Args[1] != "dev" && os.Getenv("GOGC") == "" {
		// A short process (every command but the servers): the collector's first cycles, at a
		// heap of a few MB, cost more than the memory they would free (reading a 10,000-tenant
		// ledger, they were half of migrate status's CPU time). GOGC still decides if set.
		debug.SetGCPercent(400)
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
