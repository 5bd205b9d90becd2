package web

import (
	"net/http/httptest"
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

// wantSameAnswer fails unless two responses have the same status and body, once what the
// visitor typed (given in pairs: the text in a's body, the text in b's) is set aside.
func wantSameAnswer(t *testing.T, what string, a, b *httptest.ResponseRecorder, typed ...string) {
	t.Helper()
	ba, bb := a.Body.String(), b.Body.String()
	for i := 0; i+1 < len(typed); i += 2 {
		ba, bb = strings.ReplaceAll(ba, typed[i], "TYPED"), strings.ReplaceAll(bb, typed[i+1], "TYPED")
	}
	if a.Code != b.Code || ba != bb {
		i := 0
		for i < len(ba) && i < len(bb) && ba[i] == bb[i] {
			i++
		}
		t.Errorf("%s: the answers differ: %d vs %d, from byte %d:\n--- one:\n%.300s\n--- other:\n%.300s", what, a.Code, b.Code, i, ba[max(i-100, 0):], bb[max(i-100, 0):])
	}
}
