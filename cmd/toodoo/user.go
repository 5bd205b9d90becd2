package main

import "context"

// runUser is a placeholder until the user command lands.
func runUser(ctx context.Context, args []string, e *env) error {
	return usagef("user: not implemented yet")
}
