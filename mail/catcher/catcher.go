// Package catcher is the development mail catcher of `toodoo dev`: a real SMTP server
// (github.com/emersion/go-smtp) on the loopback address that keeps what it receives in memory,
// and a small web page that lists the mails and shows each with its links clickable.
//
// Mailpit would be the first choice, but its Go module ships without its web interface (the
// server/ui/dist bundle is built with npm, which this project cannot reach), so `go tool
// mailpit` would catch mail and show a blank page; Inbucket's module lacks its (Elm) interface
// the same way, and MailHog's module does not resolve.
package catcher

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// MaxMails is how many mails the catcher keeps (the oldest go first).
const MaxMails = 500

// Mail is a caught message.
type Mail struct {
	ID       int
	Received time.Time
	From     string
	To       []string
	Subject  string
	Body     string
}

// Catcher holds the mails.
type Catcher struct {
	mu    sync.Mutex
	mails []Mail
	next  int
}

// Servers are the running SMTP server and web page.
type Servers struct {
	SMTPAddr string // host:port
	WebURL   string // http://host:port/
	smtp     *smtp.Server
	web      *http.Server
	done     chan struct{}
}

// Start listens for SMTP on smtpAddr and serves the page on webAddr (each "127.0.0.1:PORT";
// when the port is taken, another free one is used) until Close.
func Start(smtpAddr, webAddr string) (*Servers, *Catcher, error) {
	c := &Catcher{}
	sl, err := listen(smtpAddr)
	if err != nil {
		return nil, nil, err
	}
	wl, err := listen(webAddr)
	if err != nil {
		sl.Close()
		return nil, nil, err
	}
	s := &Servers{SMTPAddr: sl.Addr().String(), WebURL: "http://" + wl.Addr().String() + "/", done: make(chan struct{})}
	s.smtp = smtp.NewServer(backend{c})
	s.smtp.Domain = "localhost"
	s.smtp.AllowInsecureAuth = true
	s.smtp.MaxMessageBytes = 1 << 20
	s.smtp.ReadTimeout, s.smtp.WriteTimeout = time.Minute, time.Minute
	s.web = &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.smtp.Serve(sl) })
	wg.Go(func() { _ = s.web.Serve(wl) })
	go func() { wg.Wait(); close(s.done) }()
	return s, c, nil
}

// listen listens on addr, or on another port of its host if that one is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	ln, err2 := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, fmt.Errorf("mail catcher: listen: %w", errors.Join(err, err2))
	}
	return ln, nil
}

// Close stops both servers and waits for them.
func (s *Servers) Close() {
	_ = s.smtp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.web.Shutdown(ctx)
	<-s.done
}

// Mails returns the caught mails, newest first.
func (c *Catcher) Mails() []Mail {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Mail, len(c.mails))
	for i, m := range c.mails {
		out[len(c.mails)-1-i] = m
	}
	return out
}

func (c *Catcher) add(m Mail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	m.ID = c.next
	c.mails = append(c.mails, m)
	if len(c.mails) > MaxMails {
		c.mails = c.mails[len(c.mails)-MaxMails:]
	}
}

var page = template.Must(template.New("").Funcs(template.FuncMap{"linkify": linkify}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Toodoo mail catcher</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
article{border:1px solid #ccc;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
pre{white-space:pre-wrap}small{color:#666}</style></head><body>
<h1>Mail caught by <code>toodoo dev</code></h1>
<p><small>Newest first; kept in memory until the server stops. Reload for new mail.</small></p>
{{range .}}<article id="mail-{{.ID}}"><h2>{{.Subject}}</h2>
<p><small>To {{range .To}}{{.}} {{end}}· from {{.From}} · {{.Received.Format "15:04:05"}}</small></p>
<pre>{{linkify .Body}}</pre></article>
{{else}}<p>No mail yet.</p>{{end}}
</body></html>`))

var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify escapes body and makes its http(s) URLs links.
func linkify(body string) template.HTML {
	var b strings.Builder
	last := 0
	for _, loc := range linkPattern.FindAllStringIndex(body, -1) {
		b.WriteString(template.HTMLEscapeString(body[last:loc[0]]))
		u := template.HTMLEscapeString(body[loc[0]:loc[1]])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		last = loc[1]
	}
	b.WriteString(template.HTMLEscapeString(body[last:]))
	return template.HTML(b.String())
}

// Handler serves the list of mails.
func (c *Catcher) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_ = page.Execute(w, c.Mails())
	})
}

type backend struct{ c *Catcher }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{c: b.c}, nil }

type session struct {
	c    *Catcher
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                      { s.from, s.to = "", nil }
func (s *session) Logout() error                               { return nil }

func (s *session) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	s.c.add(Mail{Received: time.Now(), From: s.from, To: append([]string(nil), s.to...), Subject: subject, Body: string(text)})
	return nil
}

// SMTPURL is the TOODOO_SMTP_URL that sends to this catcher.
func (s *Servers) SMTPURL() string {
	host, port, _ := net.SplitHostPort(s.SMTPAddr)
	return "smtp://" + net.JoinHostPort(host, port) + "?tls=none"
}
