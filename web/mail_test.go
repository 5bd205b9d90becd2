package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/internal/mailtest"
	"github.com/toodoo/toodoo/mail"
)

// mailbox starts a real SMTP server in the test process and a mail runner that delivers the
// bundle's queue to it (poll-only through PgBouncer).
func (b *bundle) mailbox() *mailtest.Server {
	b.t.Helper()
	srv := mailtest.Start(b.t)
	pooled := b.db.Pool().Config().ConnString()
	srv.Run(b.t, pooled, b.direct)
	return srv
}

// follow opens a link from a mail: the browser must be on the link's host; it returns the
// path and query to request.
func follow(t *testing.T, br *browser, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	if u.Host != br.host {
		t.Fatalf("link %q is for host %q, the browser is on %q", link, u.Host, br.host)
	}
	return u.RequestURI()
}

// tokenOf is the t= parameter of a link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("t") == "" {
		t.Fatalf("link %q has no token", link)
	}
	return u.Query().Get("t")
}

// queuedMails lists the queue (newest first).
func (b *bundle) queuedMails() []mail.Entry {
	b.t.Helper()
	list, err := mail.List(b.t.Context(), b.db.Pool().Config().ConnString(), false, 100)
	if err != nil {
		b.t.Fatalf("mail.List: %v", err)
	}
	return list
}

// wantSameAnswer fails unless two responses have the same status and body.
func wantSameAnswer(t *testing.T, what string, a, b interface {
	Result() *http.Response
}) {
	t.Helper()
	ra, rb := a.Result(), b.Result()
	ba, bb := readAll(t, ra), readAll(t, rb)
	if ra.StatusCode != rb.StatusCode || ba != bb {
		t.Errorf("%s: the answers differ: %d vs %d\n--- one:\n%.1500s\n--- other:\n%.1500s", what, ra.StatusCode, rb.StatusCode, ba, bb)
	}
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return sb.String()
}
