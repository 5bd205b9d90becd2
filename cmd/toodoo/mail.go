package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/toodoo/toodoo/mail"
)

// runMail is `toodoo mail list`.
func runMail(ctx context.Context, args []string, e *env) error {
	return subcommand(ctx, "mail", args, e, map[string]func(context.Context, []string, *env) error{
		"list": runMailList,
	})
}

// runMailList is `toodoo mail list [--failed] [--json] [--limit N]`: the newest mails in the
// queue (sent ones stay an hour, failed ones seven days), with the last error of each. It never
// prints a body: the links inside are secrets.
func runMailList(ctx context.Context, args []string, e *env) error {
	fs, dbURL := newFlagSet(e, "mail list", "mail list [--failed] [--json] [--limit N]")
	failed := fs.Bool("failed", false, "only the mails that will not be sent (refused for good, or out of attempts)")
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 100, "at most `N` mails, newest first")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *limit < 1 || *limit > 10000:
		return usagef("mail list: --limit must be from 1 to 10000")
	case *dbURL == "":
		return usagef("no database: set DATABASE_URL or pass --database-url")
	}
	list, err := mail.List(ctx, *dbURL, *failed, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		if list == nil {
			list = []mail.Entry{}
		}
		return enc.Encode(list)
	}
	if len(list) == 0 {
		if *failed {
			fmt.Fprintln(e.Stdout, "No failed mail.")
		} else {
			fmt.Fprintln(e.Stdout, "No mail in the queue.")
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tATTEMPTS\tCREATED\tTO\tSUBJECT\tLAST ERROR")
	for _, m := range list {
		fmt.Fprintf(tw, "%d\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", m.ID, m.State, m.Attempt, m.MaxAttempts,
			m.CreatedAt.UTC().Format(time.DateTime), m.To, oneLine(m.Subject), oneLine(m.LastError))
	}
	return tw.Flush()
}
