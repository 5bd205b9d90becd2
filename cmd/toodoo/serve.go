package main

import "context"

// runServe is a placeholder until the serve command lands.
func runServe(ctx context.Context, args []string, e *env) error {
	return usagef("serve: not implemented yet")
}
