package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends over SMTP with github.com/wneessen/go-mail, one connection per message (mail is
// rare: a sign-up, a reset, an invitation).
type SMTP struct {
	from   string
	host   string
	port   int
	policy gomail.TLSPolicy
	ssl    bool
	user   string
	pass   string
	auth   gomail.SMTPAuthType
	tls    *tls.Config // nil: go-mail's default (verify the server's certificate)
}

// ParseSMTPURL checks TOODOO_SMTP_URL and TOODOO_MAIL_FROM and returns the sender they
// describe, without touching the network:
//
//	smtp://[user:password@]host[:port]            STARTTLS, required (port 587)
//	smtps://[user:password@]host[:port]           TLS from the first byte (port 465)
//	smtp://localhost:1025?tls=none                no TLS at all: loopback hosts only
//
// Credentials are URL-encoded in the userinfo. A mail server that does not offer STARTTLS is
// refused rather than sent links and passwords in clear; the one exception is a server on this
// machine (localhost, 127.0.0.0/8, ::1), such as a developer's mail catcher, and only when
// asked for explicitly with ?tls=none, so that a typo cannot turn encryption off.
func ParseSMTPURL(raw, from string) (*SMTP, error) {
	addr, err := mail.ParseAddress(from)
	if err != nil || strings.ContainsAny(from, "\r\n") {
		return nil, fmt.Errorf("mail from %q is not an address (e.g. \"Toodoo <noreply@example.com>\")", from)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("SMTP URL: cannot parse it") // the URL may hold a password: never echo it
	}
	s := &SMTP{from: addr.String(), host: u.Hostname(), policy: gomail.TLSMandatory, auth: gomail.SMTPAuthPlain}
	if s.host == "" {
		return nil, errors.New("SMTP URL: no host")
	}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.ssl = 465, true
	default:
		return nil, fmt.Errorf("SMTP URL: scheme %q: use smtp:// (STARTTLS) or smtps:// (TLS)", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("SMTP URL: port %q", p)
		}
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return nil, fmt.Errorf("SMTP URL: unknown parameter %q (only tls=none)", k)
		}
	}
	switch t := q.Get("tls"); t {
	case "":
	case "none":
		if s.ssl {
			return nil, errors.New("SMTP URL: smtps:// with tls=none: use smtp://")
		}
		if !loopback(s.host) {
			return nil, fmt.Errorf("SMTP URL: tls=none is allowed only for a server on this machine (localhost), not %q", s.host)
		}
		s.policy, s.auth = gomail.NoTLS, gomail.SMTPAuthPlainNoEnc
	default:
		return nil, fmt.Errorf("SMTP URL: tls=%q: the only value is none (for localhost)", t)
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// From is the sender's address, as it goes into the From header.
func (s *SMTP) From() string { return s.from }

// Addr is host:port, for logs (never the credentials).
func (s *SMTP) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Send delivers m. An error tells whether it is worth retrying (see Permanent).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return permanent{fmt.Errorf("mail: from: %w", err)}
	}
	if err := msg.To(m.To); err != nil {
		return permanent{fmt.Errorf("mail: recipient: %w", err)}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)

	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTLSPolicy(s.policy), gomail.WithTimeout(30 * time.Second)}
	if s.ssl {
		opts = append(opts, gomail.WithSSL())
	}
	if s.tls != nil {
		opts = append(opts, gomail.WithTLSConfig(s.tls))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(s.auth), gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && (se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPMailFrom) {
			return permanent{fmt.Errorf("mail: send to %s via %s: %w", m.To, s.Addr(), err)}
		}
		return fmt.Errorf("mail: send to %s via %s: %w", m.To, s.Addr(), err)
	}
	return nil
}

// permanent is an error that no retry will cure (the server refused the recipient for good).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Permanent reports whether err says that retrying the mail is pointless.
func Permanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
