package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/gen/tenantdb"
	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/internal/testlog"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// TestDevSeedOnce seeds twice: the second time creates nothing, and the data is what the banner
// promises (two workspaces on their hosts, the demo superuser owning both, three to-dos each).
func TestDevSeedOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testfactory.DB(ctx, t, dbtest.URL(t))
	def := schemadef.MustDefault()

	first, err := seedDemo(ctx, db, def, "localhost")
	if err != nil {
		t.Fatalf("first seed: %v", err)
	}
	if want := []string{"user " + demoEmail, "workspace first", "workspace second"}; !slices.Equal(first.Created, want) {
		t.Errorf("first seed created %q, want %q", first.Created, want)
	}
	again, err := seedDemo(ctx, db, def, "localhost")
	if err != nil {
		t.Fatalf("second seed: %v", err)
	}
	if len(again.Created) != 0 || !again.PasswordKnown {
		t.Errorf("second seed: created %q, password known %v; want nothing created, password known", again.Created, again.PasswordKnown)
	}

	acc := account.New(db)
	u, err := acc.Authenticate(ctx, demoEmail, demoPassword)
	if err != nil {
		t.Fatalf("sign in as the demo user: %v", err)
	}
	if !u.IsSuperuser {
		t.Error("the demo user is not a superuser")
	}
	for _, dt := range demoTenants {
		tn, err := db.Get(ctx, dt.Name)
		if err != nil {
			t.Fatalf("workspace %s: %v", dt.Name, err)
		}
		if tn.DisplayName != dt.DisplayName {
			t.Errorf("workspace %s is called %q, want %q", dt.Name, tn.DisplayName, dt.DisplayName)
		}
		m, err := acc.Membership(ctx, u.ID, tn.ID)
		if err != nil || m.Role != account.RoleOwner {
			t.Errorf("demo user in %s: %+v, %v; want owner", dt.Name, m, err)
		}
		var domain string
		if err := db.Pool().QueryRow(ctx, "SELECT domain FROM public.domains WHERE tenant_id = $1", tn.ID).Scan(&domain); err != nil || domain != dt.Name+".localhost" {
			t.Errorf("workspace %s has domain %q (%v), want %s.localhost", dt.Name, domain, err, dt.Name)
		}
		counts, err := tenancy.InReadTxV(ctx, db, tn, func(ctx context.Context, q *tenantdb.Queries) (tenantdb.TodoCountsRow, error) {
			return q.TodoCounts(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if counts.Open != 2 || counts.Done != 1 {
			t.Errorf("workspace %s has %d open and %d done to-dos, want 2 and 1 (seeded once)", dt.Name, counts.Open, counts.Done)
		}
	}

	// A person's changes survive a restart: the password changed, the banner does not print it.
	if _, err := acc.SetPassword(ctx, u.ID, "a-password-of-my-own"); err != nil {
		t.Fatal(err)
	}
	third, err := seedDemo(ctx, db, def, "localhost")
	if err != nil {
		t.Fatalf("third seed: %v", err)
	}
	if third.PasswordKnown {
		t.Error("after a password change the seed still claims to know the password")
	}
}

// TestDevServes runs `toodoo dev` for real on a fresh database: it migrates, seeds, prints the
// URLs and credentials, serves the demo workspace (signing in with the printed credentials shows
// the seeded to-dos), and stops cleanly when its context ends. A second run seeds nothing.
func TestDevServes(t *testing.T) {
	t.Parallel()
	pooled, direct := dbtest.URLs(t)
	vars := map[string]string{"DATABASE_URL": pooled, "TOODOO_DIRECT_DATABASE_URL": direct,
		"TOODOO_DEV_MAIL_SMTP": "127.0.0.1:0", "TOODOO_DEV_MAIL_UI": "127.0.0.1:0"}

	out := startDev(t, vars)
	banner := out.until(t, "Ctrl-C stops the server")
	for _, want := range []string{
		"Seeded demo data: user demo@example.com, workspace first, workspace second.",
		"Public site (sign up):  http://localhost:",
		"Platform admin:         http://localhost:",
		"First Workspace:        http://first.localhost:",
		"Second Workspace:       http://second.localhost:",
		"Sign in as demo@example.com with password " + demoPassword,
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	firstURL := regexp.MustCompile(`http://first\.localhost:\d+/`).FindString(banner)
	if firstURL == "" {
		t.Fatalf("no URL of the first workspace in:\n%s", banner)
	}
	page := signInAndGet(t, firstURL, demoEmail, demoPassword)
	for _, todo := range demoTenants[0].Todos {
		if !strings.Contains(page, todo.Title) {
			t.Errorf("the first workspace does not show the seeded to-do %q", todo.Title)
		}
	}
	if strings.Contains(page, demoTenants[1].Todos[0].Title) {
		t.Errorf("the first workspace shows the second's to-do %q", demoTenants[1].Todos[0].Title)
	}
	// Mail goes to the catcher, whose page the banner gives: a reset link arrives there.
	mailUI := regexp.MustCompile(`Mail sent by Toodoo \(sign-up, password reset, invitations\): (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(banner)
	if mailUI == nil {
		t.Fatalf("no mail catcher URL in:\n%s", banner)
	}
	port := regexp.MustCompile(`:(\d+)/$`).FindStringSubmatch(firstURL)[1]
	loopback := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port)) // *.localhost, as browsers do
	}}}
	resp, err := loopback.PostForm(firstURL+"password/forgot", url.Values{"email": {demoEmail}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forgot password: %d", resp.StatusCode)
	}
	var caught string
	for range 600 { // the queue sends in the background: a minute at most
		resp, err := http.Get(mailUI[1])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if caught = string(b); strings.Contains(caught, "Reset your Toodoo password") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !regexp.MustCompile(`<a href="http://first\.localhost:\d+/password/reset\?t=`).MatchString(caught) {
		t.Errorf("the catcher's page shows no reset link:\n%.2000s", caught)
	}
	out.stop(t)

	again := startDev(t, vars)
	banner = again.until(t, "Ctrl-C stops the server")
	if !strings.Contains(banner, "Demo data present already: nothing seeded.") {
		t.Errorf("second run:\n%s\nwant it to seed nothing", banner)
	}
	again.stop(t)
}

// devRun is a `toodoo dev` running in the background on 127.0.0.1 and a free port.
type devRun struct {
	lines  chan string
	cancel context.CancelFunc
	code   chan int
	stderr *testlog.Buffer
}

func startDev(t *testing.T, vars map[string]string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	d := &devRun{lines: make(chan string, 100), cancel: cancel, code: make(chan int, 1), stderr: &testlog.Buffer{}}
	go func() {
		code := run(ctx, []string{"dev", "--addr", "127.0.0.1:0"}, &env{
			Getenv: func(k string) string { return vars[k] },
			Stdin:  strings.NewReader(""),
			Stdout: pw,
			Stderr: d.stderr,
		})
		pw.Close()
		d.code <- code
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	t.Cleanup(func() {
		cancel()
		<-d.code
	})
	return d
}

// until returns the output up to and including the first line containing marker.
func (d *devRun) until(t *testing.T, marker string) string {
	t.Helper()
	var b strings.Builder
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				t.Fatalf("toodoo dev ended before printing %q; output:\n%s", marker, b.String())
			}
			b.WriteString(line + "\n")
			if strings.Contains(line, marker) {
				return b.String()
			}
		case <-timeout:
			t.Fatalf("toodoo dev did not print %q within a minute; output:\n%s", marker, b.String())
		}
	}
}

// stop ends the run as Ctrl-C does and wants exit status 0.
func (d *devRun) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	go func() {
		for range d.lines { // drain, so the server never blocks on its output
		}
	}()
	if code := <-d.code; code != 0 {
		t.Errorf("toodoo dev exited with %d after its context ended; stderr:\n%s", code, d.stderr)
	}
	d.code <- 0 // for the cleanup
}

// signInAndGet signs in on the site of siteURL with a cookie jar and returns the page at "/".
// Every host name is dialled on the loopback address, as browsers and curl do for *.localhost.
func signInAndGet(t *testing.T, siteURL, email, password string) string {
	t.Helper()
	u, err := url.Parse(siteURL)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	client := &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", u.Port()))
		}},
	}
	resp, err := client.PostForm(siteURL+"login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != siteURL {
		t.Fatalf("sign in: %s at %s, want 200 at %s; body:\n%s", resp.Status, resp.Request.URL, siteURL, body)
	}
	return string(body)
}
