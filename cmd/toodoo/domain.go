package main

import (
	"context"
	"fmt"

	"github.com/toodoo/toodoo/tenancy"
)

// runDomain is `toodoo domain add|remove`.
func runDomain(ctx context.Context, args []string, e *env) error {
	return subcommand(ctx, "domain", args, e, map[string]func(context.Context, []string, *env) error{
		"add":    runDomainAdd,
		"remove": runDomainRemove,
	})
}

// runDomainAdd is `toodoo domain add NAME DOMAIN [--primary]`.
func runDomainAdd(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "domain add", "domain add NAME DOMAIN [--primary]")
	primary := fs.Bool("primary", false, "make it the tenant's primary domain (the one links and sign-up use)")
	pos, err := parseArgs(fs, args, "NAME", "DOMAIN")
	if err != nil {
		return err
	}
	if _, err := tenancy.NormalizeDomain(pos[1]); err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		d, err := db.AddDomain(ctx, pos[0], pos[1], *primary)
		if err != nil {
			return err
		}
		what := "domain"
		if *primary {
			what = "primary domain"
		}
		fmt.Fprintf(e.Stdout, "Added %s %s to tenant %s.\n", what, d, pos[0])
		return nil
	})
}

// runDomainRemove is `toodoo domain remove DOMAIN`.
func runDomainRemove(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "domain remove", "domain remove DOMAIN")
	pos, err := parseArgs(fs, args, "DOMAIN")
	if err != nil {
		return err
	}
	d, err := tenancy.NormalizeDomain(pos[0])
	if err != nil {
		return err
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		if err := db.RemoveDomain(ctx, d); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "Removed domain %s.\n", d)
		return nil
	})
}
