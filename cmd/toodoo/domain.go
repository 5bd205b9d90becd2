package main

import "context"

// runDomain is a placeholder until the domain command lands.
func runDomain(ctx context.Context, args []string, e *env) error {
	return usagef("domain: not implemented yet")
}
