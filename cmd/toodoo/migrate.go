package main

import "context"

// runMigrate is a placeholder until the migrate command lands.
func runMigrate(ctx context.Context, args []string, e *env) error {
	return usagef("migrate: not implemented yet")
}
