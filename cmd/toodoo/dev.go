package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/mail/catcher"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
	"github.com/toodoo/toodoo/web"
)

// The demo data `toodoo dev` seeds. The password is fixed and printed on every start: this is a
// development database on the developer's machine, and a fixed password survives restarts (a
// random one would have to be stored somewhere to be printed again).
const (
	demoEmail    = "demo@example.com"
	demoPassword = "toodoo-demo"
)

// Where `toodoo dev`'s mail catcher (package mail/catcher) listens when TOODOO_SMTP_URL is not
// set: Mailpit's customary ports, on the loopback address (another free port when one is taken;
// TOODOO_DEV_MAIL_SMTP and TOODOO_DEV_MAIL_UI choose others).
const (
	devCatcherSMTP = "127.0.0.1:1025"
	devCatcherUI   = "127.0.0.1:8025"
)

// demoTenant is one seeded workspace; its domain is Name + "." + the base domain.
type demoTenant struct {
	Name        string
	DisplayName string
	Todos       []demoTodo
}

type demoTodo struct {
	Title string
	Done  bool
}

var demoTenants = []demoTenant{
	{Name: "first", DisplayName: "First Workspace", Todos: []demoTodo{
		{Title: "Water the office plants"},
		{Title: "Write the quarterly report"},
		{Title: "Book the team lunch", Done: true},
	}},
	{Name: "second", DisplayName: "Second Workspace", Todos: []demoTodo{
		{Title: "Renew the domain name"},
		{Title: "Plan the offsite"},
		{Title: "Order new laptops", Done: true},
	}},
}

// runDev is the development server in one command: it brings the schemas up to date (the
// migrator), seeds the demo data if it is missing, and serves in dev mode, printing the URLs and
// the demo credentials. `go tool task dev` runs it against a PostgreSQL container it manages.
// It reads what `toodoo serve` reads (serveFlags), in dev mode; demo workspaces are
// first.DOMAIN and second.DOMAIN of the base domain.
func runDev(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "dev", "dev [flags]")
	build := serveFlags(fs, e, dbURL, true)
	noSeed := fs.Bool("no-seed", false, "do not create the demo workspaces, user and to-dos")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *dbURL == "" {
		return usagef("dev: no database: set DATABASE_URL or pass --database-url (`go tool task dev` starts one in Docker)")
	}
	o, err := build()
	if err != nil {
		return err
	}
	baseDomain := o.Web.BaseDomain
	logger := newLogger(e.Stderr, o.LogFormat, o.LogLevel)

	// A container that was just started may still be initialising: wait for it a little.
	db, err := openWithRetry(ctx, e, o.DatabaseURL, 30*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()

	def, err := schemadef.Default()
	if err != nil {
		return fmt.Errorf("dev: schema definition: %w", err)
	}
	// The migrator's advisory lock and the host cache's LISTEN need a session of their own, which
	// a transaction-mode pooler does not give: the direct URL leads around it.
	if _, err := tenancy.MigrateQueue(ctx, o.DatabaseURL); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	citus, err := citusMode(e)
	if err != nil {
		return err
	}
	sum, err := migrate.Run(ctx, o.DatabaseURL, def, migrate.Options{Wait: true, DirectURL: o.Web.DirectDatabaseURL, Citus: citus}, nil)
	if err != nil {
		return fmt.Errorf("dev: migrate: %w", err)
	}
	fmt.Fprintf(e.Stdout, "Schemas: %d in scope, %d changed, %d already current (%s).\n",
		sum.Schemas, sum.Applied+sum.Recorded, sum.Current, sum.Duration.Round(time.Millisecond))

	var seeded *seedResult
	if !*noSeed {
		if seeded, err = seedDemo(ctx, db, def, baseDomain); err != nil {
			return fmt.Errorf("dev: seed: %w", err)
		}
		if len(seeded.Created) > 0 {
			fmt.Fprintf(e.Stdout, "Seeded demo data: %s.\n", strings.Join(seeded.Created, ", "))
		} else {
			fmt.Fprintln(e.Stdout, "Demo data present already: nothing seeded.")
		}
	}

	// Without TOODOO_SMTP_URL, mail goes to the catcher, in this process, which a browser opens.
	mailUI := ""
	if e.Getenv("TOODOO_SMTP_URL") == "" {
		catch, _, err := catcher.Start(cmp.Or(e.Getenv("TOODOO_DEV_MAIL_SMTP"), devCatcherSMTP), cmp.Or(e.Getenv("TOODOO_DEV_MAIL_UI"), devCatcherUI))
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		defer catch.Close()
		sender, err := mail.ParseSMTPURL(catch.SMTPURL(), o.Mail.Sender.(*mail.SMTP).From())
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		o.Mail.Sender, mailUI = sender, catch.WebURL
	}

	mon, err := newMonitoring(db, &o)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	srv, err := web.New(o.Web, db, logger)
	if err != nil {
		return err
	}
	if err := mon.listen("dev", o.MetricsAddr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		mon.close()
		return fmt.Errorf("dev: listen on %s: %w", o.Addr, err)
	}
	printDevBanner(e.Stdout, baseDomain, ln.Addr(), seeded, mailUI)
	return serveWithMail(ctx, srv, ln, o.Mail, logger, mon)
}

// openWithRetry opens the database, retrying for up to wait while the server is not answering.
func openWithRetry(ctx context.Context, e *env, url string, wait time.Duration) (*tenancy.DB, error) {
	deadline := time.Now().Add(wait)
	for {
		db, err := openDB(ctx, e, url)
		if err == nil {
			return db, nil
		}
		var ue *usageError
		if errors.As(err, &ue) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// seedResult is what seedDemo found and did.
type seedResult struct {
	Created []string // what was created now, for people ("tenant first", "user demo@example.com")
	// PasswordKnown is false when the demo user's password is no longer demoPassword (someone
	// changed it), so the banner does not print a wrong one.
	PasswordKnown bool
	Tenants       []tenancy.Tenant
}

// seedDemo creates the demo workspaces, the demo user (a superuser and owner of both) and each
// workspace's to-dos, each only if missing: running it again changes nothing (a demo workspace
// someone deleted for good comes back, with its demo to-dos). To-dos are added only to a
// workspace created by this call, so a person's edits (even deleting every to-do) are never
// undone by a restart.
//
// Each workspace is created atomically (tenancy.Create); its to-dos follow in a second
// transaction, so a crash between the two leaves a demo workspace without to-dos, nothing worse.
func seedDemo(ctx context.Context, db *tenancy.DB, def *schemadef.Definition, baseDomain string) (*seedResult, error) {
	res := &seedResult{PasswordKnown: true}
	accounts := account.New(db)

	u, err := accounts.GetUserByEmail(ctx, demoEmail)
	switch toodoo.ErrorCode(err) {
	case "":
		if _, err := accounts.Authenticate(ctx, demoEmail, demoPassword); err != nil {
			if toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
				return nil, err
			}
			res.PasswordKnown = false
		}
	case toodoo.ENOTFOUND:
		if u, err = accounts.CreateUser(ctx, demoEmail, demoPassword, true); err != nil {
			return nil, err
		}
		res.Created = append(res.Created, "user "+demoEmail)
	default:
		return nil, err
	}

	for _, dt := range demoTenants {
		t, err := db.Get(ctx, dt.Name)
		created := false
		switch toodoo.ErrorCode(err) {
		case "":
		case toodoo.ENOTFOUND:
			t, err = db.Create(ctx, def, tenancy.CreateParams{
				Name:        dt.Name,
				DisplayName: dt.DisplayName,
				Domain:      dt.Name + "." + baseDomain,
				Then: func(ctx context.Context, tx *tenancy.Tx, t tenancy.Tenant) error {
					return account.AddMemberTx(ctx, tx, t.ID, u.ID, account.RoleOwner)
				},
			})
			if err != nil {
				return nil, err
			}
			created = true
			res.Created = append(res.Created, "workspace "+dt.Name)
		default:
			return nil, err
		}
		res.Tenants = append(res.Tenants, t)
		if !created {
			continue
		}
		err = db.InTx(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			for _, td := range dt.Todos {
				row, err := q.TodoCreate(ctx, tenantdb.TodoCreateParams{Title: td.Title, CreatedBy: u.ID})
				if err != nil {
					return fmt.Errorf("create to-do: %w", err)
				}
				if td.Done {
					done := true
					if _, err := q.TodoUpdate(ctx, tenantdb.TodoUpdateParams{ID: row.ID, Done: &done, Now: time.Now()}); err != nil {
						return fmt.Errorf("mark to-do done: %w", err)
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("seed to-dos of %q: %w", dt.Name, err)
		}
	}
	return res, nil
}

// printDevBanner prints where to go and how to sign in.
// mailUI, when set, is the mail catcher's web page.
func printDevBanner(w io.Writer, baseDomain string, addr net.Addr, seeded *seedResult, mailUI string) {
	port := ""
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.Port != 80 {
		port = ":" + strconv.Itoa(tcp.Port)
	}
	url := func(host string) string { return "http://" + host + port + "/" }

	fmt.Fprintf(w, "\nToodoo is running in development mode on %s.\n\n", addr)
	fmt.Fprintf(w, "  Public site (sign up):  %s\n", url(baseDomain))
	fmt.Fprintf(w, "  Platform admin:         %sadmin\n", url(baseDomain))
	if seeded != nil {
		for _, t := range seeded.Tenants {
			fmt.Fprintf(w, "  %-23s %s\n", t.DisplayName+":", url(t.Schema+"."+baseDomain))
		}
		fmt.Fprintf(w, "\n  Sign in as %s", demoEmail)
		if seeded.PasswordKnown {
			fmt.Fprintf(w, " with password %s", demoPassword)
		} else {
			fmt.Fprint(w, " (password changed since it was seeded; `go tool task dev:reset` starts over)")
		}
		fmt.Fprintln(w, " (superuser, owner of both workspaces).")
	}
	if mailUI != "" {
		fmt.Fprintf(w, "\n  Mail sent by Toodoo (sign-up, password reset, invitations): %s\n", mailUI)
	}
	fmt.Fprintln(w, "\nBrowsers and curl resolve *.localhost to this machine. Ctrl-C stops the server; the data stays.")
}
