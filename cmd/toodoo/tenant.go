package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// runTenant is `toodoo tenant create|list|suspend|resume|delete|export|import|move|rebalance`.
func runTenant(ctx context.Context, args []string, e *env) error {
	return subcommand(ctx, "tenant", args, e, map[string]func(context.Context, []string, *env) error{
		"create": runTenantCreate,
		"list":   runTenantList,
		"suspend": func(ctx context.Context, args []string, e *env) error {
			return runTenantStatus(ctx, args, e, "suspend")
		},
		"resume":    func(ctx context.Context, args []string, e *env) error { return runTenantStatus(ctx, args, e, "resume") },
		"delete":    runTenantDelete,
		"export":    runTenantExport,
		"import":    runTenantImport,
		"move":      runTenantMove,
		"rebalance": runTenantRebalance,
	})
}

// baseDomain is TOODOO_BASE_DOMAIN (default localhost) as domains are stored: lowercase,
// without port, leading or trailing dot.
func baseDomain(e *env) string {
	base := strings.TrimPrefix(tenancy.NormalizeHost(e.Getenv("TOODOO_BASE_DOMAIN")), ".")
	if base == "" {
		return defaultBaseDomain
	}
	return base
}

// runTenantCreate is `toodoo tenant create NAME [--domain DOMAIN] [--name "Display name"]`.
func runTenantCreate(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant create", `tenant create NAME [--domain DOMAIN] [--name "Display name"]`)
	domain := fs.String("domain", "", "primary domain (default NAME.$TOODOO_BASE_DOMAIN, base default localhost)")
	display := fs.String("name", "", "display name of the workspace (default NAME)")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	// Refuse a bad name before touching the database (and before building a domain from it).
	if err := tenancy.ValidateSchemaName(name); err != nil {
		return err
	}
	if *domain == "" {
		*domain = name + "." + baseDomain(e)
	}
	def, err := schemadef.Default()
	if err != nil {
		return fmt.Errorf("load schema.hcl: %w", err)
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		start := time.Now()
		t, err := db.Create(ctx, def, tenancy.CreateParams{Name: name, DisplayName: *display, Domain: *domain})
		if err != nil {
			return err
		}
		d, _ := tenancy.NormalizeDomain(*domain)
		fmt.Fprintf(e.Stdout, "Created tenant %s (%q, id %d) with domain %s in %s.\n",
			t.Schema, t.DisplayName, t.ID, d, time.Since(start).Round(100*time.Microsecond))
		return nil
	})
}

// tenantRow is one line of `tenant list`, and its JSON form.
type tenantRow struct {
	Name          string     `json:"name"`
	DisplayName   string     `json:"display_name"`
	Status        string     `json:"status"`
	PrimaryDomain string     `json:"primary_domain"`
	Members       int64      `json:"members"`
	SchemaState   string     `json:"schema_state"` // migrate.SchemaState: current, behind or failed
	AppliedAt     *time.Time `json:"applied_at"`
	LastError     string     `json:"last_error,omitempty"`
	Node          string     `json:"node"` // host:port of its Citus worker, or "local" (plain PostgreSQL, not distributed)
	CreatedAt     time.Time  `json:"created_at"`
}

// runTenantList is `toodoo tenant list [--json] [--all]`.
func runTenantList(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant list", "tenant list [--json] [--all]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	all := fs.Bool("all", false, "include deleted tenants")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	def, err := schemadef.Default()
	if err != nil {
		return fmt.Errorf("load schema.hcl: %w", err)
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		rows, err := db.List(ctx, *all)
		if err != nil {
			return err
		}
		list := make([]tenantRow, len(rows))
		for i, r := range rows {
			state := migrate.SchemaState(r.AppliedHash, r.LastError, def.TenantHash())
			list[i] = tenantRow{Name: r.Schema, DisplayName: r.DisplayName, Status: r.Status,
				PrimaryDomain: r.PrimaryDomain, Members: r.MemberCount, SchemaState: state,
				AppliedAt: r.AppliedAt, LastError: r.LastError, Node: r.Node, CreatedAt: r.CreatedAt}
		}
		if *asJSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(e.Stdout, "No tenants. Create one with: toodoo tenant create NAME")
			return nil
		}
		w := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tDISPLAY NAME\tSTATUS\tPRIMARY DOMAIN\tMEMBERS\tSCHEMA\tNODE")
		for _, r := range list {
			domain := r.PrimaryDomain
			if domain == "" {
				domain = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Name, oneLine(r.DisplayName), r.Status, domain, r.Members, r.SchemaState, r.Node)
		}
		return w.Flush()
	})
}

// runTenantStatus is `toodoo tenant suspend|resume NAME`.
func runTenantStatus(ctx context.Context, args []string, e *env, verb string) error {
	fs, dbURL := newFlagSet(e, "tenant "+verb, "tenant "+verb+" NAME")
	pos, err := parseArgs(fs, args, "NAME")
	if err != nil {
		return err
	}
	status, done := tenancy.StatusActive, "Resumed"
	if verb == "suspend" {
		status, done = tenancy.StatusSuspended, "Suspended"
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		t, err := db.SetStatus(ctx, pos[0], status)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s tenant %s.\n", done, t.Schema)
		return nil
	})
}

// runTenantDelete is `toodoo tenant delete NAME [--drop]` and `toodoo tenant delete --purge-trash`.
func runTenantDelete(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "tenant delete", "tenant delete NAME [--drop] | tenant delete --purge-trash")
	drop := fs.Bool("drop", false, "also drop the schema and all its data (otherwise the tenant is only marked deleted)")
	purge := fs.Bool("purge-trash", false, "finish interrupted drops: drop every schema left in the trash")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usagef("tenant delete: expected NAME, got %d arguments (see --help)", len(pos))
	case len(pos) == 0 && !*purge:
		return usagef("tenant delete: missing NAME (see --help)")
	}
	return withDB(ctx, e, *dbURL, func(db *tenancy.DB) error {
		if len(pos) == 1 {
			if err := db.Delete(ctx, pos[0], *drop); err != nil {
				return err
			}
			if *drop {
				fmt.Fprintf(e.Stdout, "Deleted tenant %s and dropped its schema.\n", pos[0])
			} else {
				fmt.Fprintf(e.Stdout, "Deleted tenant %s; its domains are released and its schema is kept (delete again with --drop to remove it).\n", pos[0])
			}
		}
		if !*purge {
			return nil
		}
		trash, err := db.TrashSchemas(ctx)
		if err != nil {
			return fmt.Errorf("list trash schemas: %w", err)
		}
		for _, s := range trash {
			if err := db.DropTrash(ctx, s); err != nil {
				return fmt.Errorf("drop trash schema %s: %w", s, err)
			}
			fmt.Fprintf(e.Stdout, "Dropped %s.\n", s)
		}
		if len(trash) == 0 {
			fmt.Fprintln(e.Stdout, "The trash is empty.")
		}
		return nil
	})
}

// activeTenant returns the tenant named name, refusing a deleted one as unknown.
func activeTenant(ctx context.Context, db *tenancy.DB, name string) (tenancy.Tenant, error) {
	t, err := db.Get(ctx, name)
	if err != nil {
		return t, err
	}
	if t.Status == tenancy.StatusDeleted {
		return t, toodoo.Errorf(toodoo.ENOTFOUND, "The tenant %q is deleted.", name)
	}
	return t, nil
}

// memberOf finds the active tenant NAME and the user EMAIL that a member or token command
// names, with one-line errors for either.
func memberOf(ctx context.Context, db *tenancy.DB, svc *account.Service, name, email string) (tenancy.Tenant, account.User, error) {
	t, err := activeTenant(ctx, db, name)
	if err != nil {
		return t, account.User{}, err
	}
	u, err := svc.GetUserByEmail(ctx, email)
	return t, u, err
}
