package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/internal/mailtest"
	"github.com/toodoo/toodoo/internal/testfactory"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/tenancy"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestParseSMTPURL(t *testing.T) {
	const from = "Toodoo <noreply@example.com>"
	for _, tc := range []struct {
		url, from, addr, err string
	}{
		{url: "smtp://mail.example.com", addr: "mail.example.com:587"},
		{url: "smtp://user:p%40ss@mail.example.com:2525", addr: "mail.example.com:2525"},
		{url: "smtps://mail.example.com", addr: "mail.example.com:465"},
		{url: "smtp://localhost:1025?tls=none", addr: "localhost:1025"},
		{url: "smtp://127.0.0.1:1025?tls=none", addr: "127.0.0.1:1025"},
		{url: "smtp://[::1]:1025?tls=none", addr: "[::1]:1025"},
		{url: "smtp://mail.example.com?tls=none", err: "only for a server on this machine"},
		{url: "smtps://localhost?tls=none", err: "use smtp://"},
		{url: "smtp://localhost?tls=off", err: "the only value is none"},
		{url: "smtp://localhost?insecure=1", err: "unknown parameter"},
		{url: "http://mail.example.com", err: "use smtp://"},
		{url: "smtp://", err: "no host"},
		{url: "smtp://mail.example.com:0", err: "port"},
		{url: "smtp://mail.example.com", from: "not an address", err: "not an address"},
		{url: "smtp://mail.example.com", from: "a@b.example\r\nBcc: x@y.example", err: "not an address"},
	} {
		f := from
		if tc.from != "" {
			f = tc.from
		}
		s, err := mail.ParseSMTPURL(tc.url, f)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSMTPURL(%q, %q) = %v, want an error containing %q", tc.url, f, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseSMTPURL(%q) = %v", tc.url, err)
		case tc.err == "" && s.Addr() != tc.addr:
			t.Errorf("ParseSMTPURL(%q).Addr() = %q, want %q", tc.url, s.Addr(), tc.addr)
		}
		if err != nil && strings.Contains(err.Error(), "p@ss") {
			t.Errorf("ParseSMTPURL(%q) leaks the password: %v", tc.url, err)
		}
	}
}

// TestSMTPAuth sends through a server that requires credentials, given in the URL.
func TestSMTPAuth(t *testing.T) {
	srv := mailtest.Start(t)
	srv.User, srv.Password = "toodoo", "s3cret:/@"
	bad, err := mail.ParseSMTPURL("smtp://toodoo:wrong@"+srv.Addr()+"?tls=none", mailtest.From)
	if err != nil {
		t.Fatal(err)
	}
	msg := mail.Message{To: "ann@example.com", Subject: "Hello", Text: "Hi Ann."}
	if err := bad.Send(t.Context(), msg); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	good, err := mail.ParseSMTPURL("smtp://toodoo:s3cret%3A%2F%40@"+srv.Addr()+"?tls=none", mailtest.From)
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(t, "ann@example.com", "Hello")
	if !strings.Contains(got.Body, "Hi Ann.") || !strings.Contains(got.Header.Get("From"), "noreply@toodoo.test") {
		t.Errorf("received %+v", got)
	}
}

// TestQueueSendsWhatCommits: a mail enqueued in a committed transaction arrives; one enqueued
// in a transaction that rolls back never becomes a job.
func TestQueueSendsWhatCommits(t *testing.T) {
	ctx := t.Context()
	pooled, direct := dbtest.URLs(t)
	db := testfactory.DB(ctx, t, pooled)
	srv := mailtest.Start(t)
	srv.Run(t, pooled, direct)

	errRollback := errors.New("roll back")
	err := db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		if err := tx.Enqueue(ctx, mail.Message{To: "gone@example.com", Subject: "Rolled back", Text: "never"}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("SharedTx = %v", err)
	}
	err = db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		return tx.Enqueue(ctx, mail.PasswordReset("ann@example.com", "https://toodoo.test/reset?t=abc", 30*time.Minute))
	})
	if err != nil {
		t.Fatalf("SharedTx: %v", err)
	}
	m := srv.Wait(t, "ann@example.com", "Reset your Toodoo password")
	if link := m.Link(t, "/reset?t="); link != "https://toodoo.test/reset?t=abc" {
		t.Errorf("link = %q", link)
	}
	if !strings.Contains(m.Body, "30 minutes") {
		t.Errorf("body does not say how long the link lives:\n%s", m.Body)
	}
	var jobs int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM toodoo_river.river_job").Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 {
		t.Errorf("%d jobs in the queue, want 1: the rolled-back mail must not be one", jobs)
	}
}

// TestFailedMailIsListed: a refused recipient (5xx) fails for good at once and is listed as
// failed with its error; a temporary refusal (4xx) is retried later, listed but not failed.
func TestFailedMailIsListed(t *testing.T) {
	ctx := t.Context()
	pooled, direct := dbtest.URLs(t)
	db := testfactory.DB(ctx, t, pooled)
	srv := mailtest.Start(t)
	srv.Refuse(550)
	srv.Run(t, pooled, direct)
	enqueue := func(to string) {
		t.Helper()
		if err := db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
			return tx.Enqueue(ctx, mail.Message{To: to, Subject: "Hi", Text: "Hi."})
		}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("nobody@example.com")
	list := waitList(t, pooled, true, func(es []mail.Entry) bool { return len(es) == 1 })
	if e := list[0]; !e.Failed() || e.To != "nobody@example.com" || !strings.Contains(e.LastError, "550") {
		t.Errorf("failed mail = %+v, want cancelled with the 550 in its error", e)
	}

	srv.Refuse(451)
	enqueue("later@example.com")
	list = waitList(t, pooled, false, func(es []mail.Entry) bool {
		return len(es) == 2 && es[0].State == "retryable"
	})
	if e := list[0]; e.Failed() || e.To != "later@example.com" || !strings.Contains(e.LastError, "451") || e.Attempt < 1 {
		t.Errorf("deferred mail = %+v, want retryable after an attempt with the 451 in its error", e)
	}
	if failed, err := mail.List(ctx, pooled, true, 10); err != nil || len(failed) != 1 {
		t.Errorf("List(failed) = %v, %v; want the one refused for good", failed, err)
	}
}

func waitList(t *testing.T, url string, failed bool, ok func([]mail.Entry) bool) []mail.Entry {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		es, err := mail.List(t.Context(), url, failed, 10)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if ok(es) {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue never got there: %+v", es)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSMTPTLS: smtp:// sends only over STARTTLS (a server without it is refused, never sent the
// mail in clear), smtps:// speaks TLS from the first byte, and both check the certificate.
func TestSMTPTLS(t *testing.T) {
	msg := mail.Message{To: "ann@example.com", Subject: "Over TLS", Text: "Secret link."}

	plain := mailtest.Start(t)
	s, err := mail.ParseSMTPURL("smtp://"+plain.Addr(), mailtest.From)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), msg); err == nil {
		t.Fatal("smtp:// sent to a server that offers no STARTTLS")
	}
	if n := len(plain.Mails()); n != 0 {
		t.Fatalf("%d mails went in clear", n)
	}

	for _, tc := range []struct {
		scheme   string
		implicit bool
	}{{"smtp", false}, {"smtps", true}} {
		srv, pool := mailtest.StartTLS(t, tc.implicit)
		srv.User, srv.Password = "toodoo", "pw"
		s, err := mail.ParseSMTPURL(tc.scheme+"://toodoo:pw@"+srv.Addr(), mailtest.From)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(t.Context(), msg); err == nil {
			t.Errorf("%s: sent to a server whose certificate nobody trusts", tc.scheme)
		}
		s.SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err := s.Send(t.Context(), msg); err != nil {
			t.Fatalf("%s: Send: %v", tc.scheme, err)
		}
		srv.Wait(t, "ann@example.com", "Over TLS")
	}
}
