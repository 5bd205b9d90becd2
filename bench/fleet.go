package main

import "context"

type fleetOptions struct{}

func fleetOptionsFromEnv() fleetOptions { return fleetOptions{} }

func runFleet(ctx context.Context, o fleetOptions) error { return nil }
