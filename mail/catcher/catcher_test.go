package catcher_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/mail/catcher"
)

// TestCatcher: Toodoo's SMTP sender delivers to the catcher, whose page lists the mail with its
// link clickable and everything else escaped.
func TestCatcher(t *testing.T) {
	srv, c, err := catcher.Start("127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sender, err := mail.ParseSMTPURL(srv.SMTPURL(), "Toodoo <noreply@localhost>")
	if err != nil {
		t.Fatal(err)
	}
	msg := mail.Message{To: "ann@example.com", Subject: "Hello <script>", Text: "Open http://first.localhost:8080/verify?t=abc_D-1 now. <b>not bold</b>"}
	if err := sender.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := c.Mails(); len(got) != 1 || got[0].To[0] != "ann@example.com" || got[0].Subject != "Hello <script>" {
		t.Fatalf("caught %+v", got)
	}
	resp, err := http.Get(srv.WebURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{
		`<a href="http://first.localhost:8080/verify?t=abc_D-1">http://first.localhost:8080/verify?t=abc_D-1</a>`,
		"Hello &lt;script&gt;", "&lt;b&gt;not bold&lt;/b&gt;", "ann@example.com",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}
