package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/toodoo/toodoo/mail/catcher"
)

// usage is the launcher's help; fleet.sh, behind `go tool task fleet`, prepares the database.
const usage = `Usage: fleet --toodoo PATH [flags]

Runs Toodoo's replicas on one database (DATABASE_URL, a direct URL), behind PgBouncer in
transaction mode and HAProxy on 127.0.0.1:PORT, until SIGINT or SIGTERM. Every child's output
is printed after its name. TOODOO_SESSION_KEYS is shared by the replicas (default: random for
this run, so sessions end with it).

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	toodoo := fs.String("toodoo", "", "the toodoo `binary`")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "direct PostgreSQL `URL` (default $DATABASE_URL)")
	port := fs.Int("port", envInt("TOODOO_FLEET_PORT", 8090), "the balancer's `port` on 127.0.0.1 (default $TOODOO_FLEET_PORT or 8090; 0: a free one)")
	replicas := fs.Int("replicas", 2, "how many `toodoo serve` replicas")
	drain := fs.Duration("drain-delay", 5*time.Second, "the replicas' --drain-delay")
	base := fs.String("base-domain", cmp.Or(os.Getenv("TOODOO_BASE_DOMAIN"), "localhost"), "the public site's `domain`")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		os.Exit(2)
	}
	if *toodoo == "" || *dbURL == "" || fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}
	keys := cmp.Or(os.Getenv("TOODOO_SESSION_KEYS"), rand.Text()+rand.Text())
	// The replicas' mail goes to TOODOO_SMTP_URL, else to the mail catcher of `toodoo dev`,
	// run here.
	smtpURL, mailPage := os.Getenv("TOODOO_SMTP_URL"), ""
	if smtpURL == "" {
		servers, _, err := catcher.Start("127.0.0.1:1025", "127.0.0.1:8025")
		if err != nil {
			return err
		}
		defer servers.Close()
		smtpURL, mailPage = "smtp://"+servers.SMTPAddr+"?tls=none", servers.WebURL
	}
	f, err := Start(ctx, Config{
		Toodoo:      *toodoo,
		DatabaseURL: *dbURL,
		SessionKeys: keys,
		SMTPURL:     smtpURL,
		Port:        *port,
		Replicas:    *replicas,
		DrainDelay:  *drain,
		BaseDomain:  *base,
		Output:      os.Stdout,
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nToodoo fleet: %d replicas behind HAProxy (round-robin, health-checked on /readyz), PgBouncer (transaction mode) in front of the database.\n", len(f.Replicas))
	fmt.Fprintf(&b, "  http://%s:%d/  (public site)   http://NAME.%s:%d/  (a workspace, e.g. first, second)\n", *base, f.Port, *base, f.Port)
	for _, r := range f.Replicas {
		fmt.Fprintf(&b, "  replica %s: pid %d, http://%s/ directly\n", r.Name, r.Pid(), r.Addr)
	}
	if mailPage != "" {
		fmt.Fprintf(&b, "  mail the replicas send: %s\n", mailPage)
	}
	fmt.Fprintf(&b, "Responses say which replica answered (X-Toodoo-Replica). `kill -TERM PID` drains a replica (its /readyz fails, it serves on for %s, then stops) while the other serves.\nCtrl-C stops everything.\n\n", *drain)
	fmt.Print(b.String())

	// Until Ctrl-C, or until every replica or a helper is gone.
	gone := make(chan string, len(f.Replicas)+2)
	for _, p := range []*proc{f.balancer, f.bouncer} {
		go func() { <-p.Exited(); gone <- p.name }()
	}
	for _, r := range f.Replicas {
		go func() { <-r.Exited(); gone <- r.Name }()
	}
	left := len(f.Replicas)
	for left > 0 {
		select {
		case <-ctx.Done():
			fmt.Println("\nfleet: stopping (replicas drain first)")
			return f.Stop()
		case name := <-gone:
			if name == "haproxy" || name == "pgbouncer" {
				return errors.Join(fmt.Errorf("%s exited; everything stopped", name), f.Stop())
			}
			left--
			fmt.Printf("fleet: replica %s exited (%d left)\n", name, left)
		}
	}
	return errors.Join(errors.New("every replica exited; everything stopped"), f.Stop())
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}
