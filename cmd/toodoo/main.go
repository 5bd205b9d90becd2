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
	"syscall"
)

func main() {
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
