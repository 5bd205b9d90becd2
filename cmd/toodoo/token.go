package main

import "context"

// runToken is a placeholder until the token command lands.
func runToken(ctx context.Context, args []string, e *env) error {
	return usagef("token: not implemented yet")
}
