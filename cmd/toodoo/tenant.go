package main

import "context"

// runTenant is a placeholder until the tenant command lands.
func runTenant(ctx context.Context, args []string, e *env) error {
	return usagef("tenant: not implemented yet")
}
