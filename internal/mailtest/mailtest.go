// Package mailtest is a real SMTP server for tests (github.com/emersion/go-smtp), listening on
// 127.0.0.1:0 in the test process: Toodoo's SMTP sender delivers to it over TCP, and tests read
// what arrived and follow the links inside.
package mailtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/toodoo/toodoo/internal/dbtest"
	"github.com/toodoo/toodoo/mail"
)

// Mail is a received message.
type Mail struct {
	From    string   // envelope sender
	To      []string // envelope recipients
	Header  netmail.Header
	Subject string
	Body    string // decoded as plain text (go-mail writes quoted-printable)
}

// Server is the test's SMTP server.
type Server struct {
	t    testing.TB
	addr string

	// User and Password, when set, are required (AUTH PLAIN) before MAIL FROM. Set them
	// before anything connects.
	User, Password string

	mu     sync.Mutex
	refuse *smtp.SMTPError // answers every RCPT TO when set (see Refuse)
	mails  []Mail
	notify chan struct{}
}

// Start starts a server on 127.0.0.1:0, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil, false)
}

// StartTLS starts a server on 127.0.0.1:0 with a certificate made for the test (for 127.0.0.1),
// offering STARTTLS, or, when implicit, speaking TLS from the first byte (smtps). It returns the
// pool that trusts the certificate.
func StartTLS(t testing.TB, implicit bool) (*Server, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	return start(t, cfg, implicit), pool
}

func start(t testing.TB, tlsCfg *tls.Config, implicit bool) *Server {
	t.Helper()
	s := &Server{t: t, notify: make(chan struct{}, 1)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "mailtest.localhost"
	srv.AllowInsecureAuth = tlsCfg == nil
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	if implicit {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the TOODOO_SMTP_URL of this server (no TLS: it is on this machine).
func (s *Server) URL() string { return "smtp://" + s.addr + "?tls=none" }

// Refuse makes every recipient fail with code (e.g. 451 temporary, 550 permanent); 0 accepts again.
func (s *Server) Refuse(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		s.refuse = nil
		return
	}
	s.refuse = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "refused by the test"}
}

// Mails returns what arrived so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait returns the first mail to rcpt whose subject contains subject, waiting for it up to a
// minute (the queue works in the background; the bound only keeps a broken test from hanging).
func (s *Server) Wait(t testing.TB, rcpt, subject string) Mail {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		for _, m := range s.Mails() {
			for _, to := range m.To {
				if strings.EqualFold(to, rcpt) && strings.Contains(m.Subject, subject) {
					return m
				}
			}
		}
		select {
		case <-s.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("mailtest: no mail to %s about %q arrived; got %d: %v", rcpt, subject, len(s.Mails()), s.Mails())
		}
	}
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// Link returns the first URL in the body that contains part.
func (m Mail) Link(t testing.TB, part string) string {
	t.Helper()
	for _, l := range linkPattern.FindAllString(m.Body, -1) {
		if strings.Contains(l, part) {
			return l
		}
	}
	t.Fatalf("mailtest: no link containing %q in:\n%s", part, m.Body)
	return ""
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if ss.s.User == "" || (user == ss.s.User && pass == ss.s.Password) {
			ss.authed = true
			return nil
		}
		return errors.New("bad credentials")
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuse
	ss.s.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(decode(msg))
	if err != nil {
		return err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	m := Mail{From: ss.from, To: ss.to, Header: msg.Header, Subject: subject, Body: string(body)}
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, m)
	ss.s.mu.Unlock()
	select {
	case ss.s.notify <- struct{}{}:
	default:
	}
	return nil
}

// decode undoes the body's transfer encoding.
func decode(msg *netmail.Message) io.Reader {
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		return quotedprintable.NewReader(msg.Body)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, msg.Body)
	}
	return msg.Body
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// From is the sender address the test runners use.
const From = "Toodoo <noreply@toodoo.test>"

// Run starts a mail.Runner that sends the queue of the database behind pooled to this server,
// and stops it (and waits for it) when the test ends. It listens for new jobs on direct, or,
// through PgBouncer (TEST_PGBOUNCER=1), polls only, as production does behind a pooler without
// a direct URL.
func (s *Server) Run(t testing.TB, pooled, direct string) {
	t.Helper()
	sender, err := mail.ParseSMTPURL(s.URL(), From)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	cfg := mail.Config{DatabaseURL: pooled, ListenURL: direct, Sender: sender, PollInterval: 200 * time.Millisecond}
	if dbtest.Pooled() {
		cfg.ListenURL = ""
	}
	r, err := mail.NewRunner(t.Context(), cfg)
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mailtest: runner: %v", err)
		}
	})
}
