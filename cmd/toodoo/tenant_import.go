package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// runTenantImport is `toodoo tenant import NEWNAME [--input FILE] [--domain DOMAIN] [--name
// "Display name"] < archive`: the archive becomes a new tenant, all of it or nothing, and the
// report says what could not come along (members without an account here, taken domains).
func runTenantImport(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant import", `tenant import NEWNAME [--input FILE] [--domain DOMAIN] [--name "Display name"] < NAME.toodoo`)
	input := fs.String("input", "", "read the archive from `FILE` instead of stdin")
	domain := fs.String("domain", "", "primary domain (default NEWNAME, underscores as hyphens, .$TOODOO_BASE_DOMAIN, base default localhost)")
	display := fs.String("name", "", "display name of the workspace (default: the archive's)")
	pos, err := parseArgs(fs, args, "NEWNAME")
	if err != nil {
		return err
	}
	name := pos[0]
	if err := tenancy.ValidateSchemaName(name); err != nil {
		return err
	}
	if *domain == "" {
		*domain = strings.ReplaceAll(name, "_", "-") + "." + baseDomain(e)
	}
	var in io.Reader = e.Stdin
	if *input != "" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	} else if f, ok := e.Stdin.(*os.File); ok && isTerminal(f) {
		return usagef("tenant import: pipe an archive in (toodoo tenant import %s < NAME.toodoo) or use --input", name)
	}
	def, err := schemadef.Default()
	if err != nil {
		return fmt.Errorf("load schema.hcl: %w", err)
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		start := time.Now()
		res, err := db.Import(ctx, def, bufio.NewReaderSize(in, 256<<10), tenancy.ImportParams{Name: name, DisplayName: *display, Domain: *domain})
		if err != nil {
			return err
		}
		printImport(e, res, *domain, time.Since(start))
		return nil
	})
}

// printImport reports an import: what was made, and what an operator has to follow up on.
func printImport(e *env, res tenancy.ImportResult, domain string, took time.Duration) {
	w := e.Stdout
	d, _ := tenancy.NormalizeDomain(domain)
	var rows int64
	var tables []string
	for _, t := range res.Tables {
		rows += t.Rows
		tables = append(tables, fmt.Sprintf("%s %d", t.Name, t.Rows))
	}
	fmt.Fprintf(w, "Imported %s as tenant %s (%q, id %d) with domain %s in %s: %d rows (%s).\n",
		res.Source, res.Tenant.Schema, res.Tenant.DisplayName, res.Tenant.ID, d, took.Round(time.Millisecond), rows, strings.Join(tables, ", "))
	if res.Migrated {
		fmt.Fprintf(w, "The archive's schema (%.12s) is not this code's: rows were mapped by column name.\n", res.SourceHash)
	}
	if len(res.Defaulted) > 0 {
		fmt.Fprintf(w, "What the archive lacks took its defaults: %s.\n", strings.Join(res.Defaulted, ", "))
	}
	owner := false
	if len(res.Members) > 0 {
		list := make([]string, len(res.Members))
		for i, m := range res.Members {
			list[i] = m.Email + " (" + m.Role + ")"
			owner = owner || m.Role == "owner"
		}
		fmt.Fprintf(w, "Members: %s.\n", strings.Join(list, ", "))
	}
	if len(res.SkippedEmails) > 0 {
		fmt.Fprintf(w, "Not members (no account with this e-mail here; add them with `toodoo member add %s EMAIL` once they have one, or invite them from the members page): %s.\n",
			res.Tenant.Schema, strings.Join(res.SkippedEmails, ", "))
	}
	if !owner {
		fmt.Fprintf(w, "Warning: the tenant has no owner; make one with `toodoo member add %s EMAIL --role owner`.\n", res.Tenant.Schema)
	}
	if res.UnknownUsers > 0 {
		fmt.Fprintf(w, "%d values naming a user with no account here (such as a to-do's creator) now name user 0 (unknown).\n", res.UnknownUsers)
	}
	if len(res.Domains) > 0 {
		fmt.Fprintf(w, "Domains added from the archive: %s.\n", strings.Join(res.Domains, ", "))
	}
	if len(res.TakenDomains) > 0 {
		fmt.Fprintf(w, "Domains left out, another tenant has them: %s.\n", strings.Join(res.TakenDomains, ", "))
	}
}
