package main

import "context"

// runMember is a placeholder until the member command lands.
func runMember(ctx context.Context, args []string, e *env) error {
	return usagef("member: not implemented yet")
}
