package main

import "context"

// runDev is a placeholder until the dev command lands.
func runDev(ctx context.Context, args []string, e *env) error {
	return usagef("dev: not implemented yet")
}
