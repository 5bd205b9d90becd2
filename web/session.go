package web

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/toodoo/toodoo/account"
)

// Session values. The cookie carries the session's secret id, never the user: the row in
// public.sessions says who it is, so ending the row ends the session whatever copies of the
// cookie exist.
const (
	sessID     = "s" // the session's secret; only its SHA-256 is stored (account.StartSession)
	sessFlash  = "f" // a one-time message for the next page
	sessFlashK = "k" // its kind: "ok" or "error"
)

// sessionPurgeEvery is how often Serve deletes expired session rows. Expired sessions are refused
// anyway; this only keeps the table small. Every process does it; the deletes are idempotent.
const sessionPurgeEvery = 10 * time.Minute

// newSessionStore returns the cookie store: host-only (no Domain attribute, so a cookie set by
// first.example.com is never sent to second.example.com), HttpOnly, SameSite=Lax, Secure when
// configured. Each key signs with HMAC-SHA256 and encrypts with AES-256 under a key derived from
// it; the first key encodes, every key decodes, so keys rotate by prepending a new one.
func newSessionStore(cfg Config) *sessions.CookieStore {
	var pairs [][]byte
	for _, k := range cfg.SessionKeys {
		block := sha256.Sum256(append([]byte("toodoo session encryption\x00"), k...))
		pairs = append(pairs, k, block[:])
	}
	store := sessions.NewCookieStore(pairs...)
	store.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(account.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
	store.MaxAge(store.Options.MaxAge)
	for _, c := range store.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxLength(4096)
			sc.SetSerializer(sessionSerializer{})
		}
	}
	return store
}

// sessionSerializer writes the cookie's values as a JSON object of strings (every session value
// is a string), and reads that or securecookie's default, gob, which the cookies written before
// it carry: nobody is signed out by the change. gob was most of a signed-in request's cookie
// cost: it builds a decoder for the map's type at every Decode, and writes the type names into
// every cookie. A cookie's bytes are authenticated (HMAC) before they reach Deserialize, so they
// are one of the two formats, written by this server: a JSON object starts with '{', a gob
// stream with its first message's length, which a JSON parse refuses if it happens to be 123.
type sessionSerializer struct{}

func (sessionSerializer) Serialize(src any) ([]byte, error) {
	values, ok := src.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("web: session values are a %T, want a map", src)
	}
	m := make(map[string]string, len(values))
	for k, v := range values {
		ks, kok := k.(string)
		vs, vok := v.(string)
		if !kok || !vok {
			return nil, fmt.Errorf("web: session value %v is a %T, want a string under a string key", k, v)
		}
		m[ks] = vs
	}
	return json.Marshal(m)
}

func (sessionSerializer) Deserialize(b []byte, dst any) error {
	values, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("web: session values into a %T, want *map[any]any", dst)
	}
	var m map[string]string
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &m) != nil {
		return securecookie.GobEncoder{}.Deserialize(b, dst) // a cookie from before
	}
	if *values == nil {
		*values = make(map[any]any, len(m))
	}
	for k, v := range m {
		(*values)[k] = v
	}
	return nil
}

// sessionCookieName is "__Host-toodoo" over HTTPS: browsers then refuse the cookie unless it is
// Secure, has Path=/ and no Domain, so not even a sibling subdomain can plant one.
func (s *Server) sessionCookieName() string {
	if s.cfg.SecureCookies {
		return "__Host-toodoo"
	}
	return "toodoo"
}

// sessionState is the request's session and whether it must be written back.
type sessionState struct {
	sess  *sessions.Session
	dirty bool
}

// loadSession decodes the session cookie. A missing, tampered, expired or undecodable cookie
// gives an empty session (the error is not the visitor's business).
func (s *Server) loadSession(r *http.Request) *sessionState {
	sess, err := s.sessions.New(r, s.sessionCookieName())
	if err != nil || sess == nil {
		sess = sessions.NewSession(s.sessions, s.sessionCookieName())
		opts := *s.sessions.Options
		sess.Options = &opts
		sess.IsNew = true
	}
	return &sessionState{sess: sess}
}

// secret returns the session id the cookie carries, or "".
func (st *sessionState) secret() string {
	id, _ := st.sess.Values[sessID].(string)
	return id
}

// start replaces the cookie's values by the new session's id: every old value goes (no
// fixation: nothing from before the login survives).
func (st *sessionState) start(secret string) {
	clear(st.sess.Values)
	st.sess.Values[sessID] = secret
	st.sess.Options.MaxAge = int(account.SessionTTL / time.Second)
	st.dirty = true
}

// end forgets the session id; the cookie is deleted unless a flash message must survive.
func (st *sessionState) end() {
	clear(st.sess.Values)
	st.sess.Options.MaxAge = -1
	st.dirty = true
}

// signIn starts a server-side session of userID on this host (tenantID, 0 for the public site)
// and puts its id in the cookie. The session the cookie held before, if any, ends.
func (s *Server) signIn(r *http.Request, tenantID, userID int64) error {
	ctx := r.Context()
	st := info(ctx).Session
	if err := s.accounts.EndSession(ctx, st.secret()); err != nil {
		return err
	}
	secret, err := s.accounts.StartSession(ctx, userID, tenantID, r.UserAgent())
	if err != nil {
		return err
	}
	st.start(secret)
	return nil
}

// signOut ends the cookie's session, row and cookie.
func (s *Server) signOut(r *http.Request) error {
	st := info(r.Context()).Session
	if err := s.accounts.EndSession(r.Context(), st.secret()); err != nil {
		return err
	}
	st.end()
	return nil
}

// setFlash leaves a message for the next page.
func (st *sessionState) setFlash(kind, msg string) {
	st.sess.Values[sessFlash] = msg
	st.sess.Values[sessFlashK] = kind
	if st.sess.Options.MaxAge < 0 {
		// A flash after logout: keep a short-lived cookie holding only the message.
		st.sess.Options.MaxAge = 60
	}
	st.dirty = true
}

// popFlash returns and removes the flash message.
func (st *sessionState) popFlash() (kind, msg string) {
	msg, _ = st.sess.Values[sessFlash].(string)
	kind, _ = st.sess.Values[sessFlashK].(string)
	if msg != "" {
		delete(st.sess.Values, sessFlash)
		delete(st.sess.Values, sessFlashK)
		st.dirty = true
	}
	return kind, msg
}

// save writes the cookie if the session changed. It must run before the response's headers.
func (s *Server) saveSession(w http.ResponseWriter, r *http.Request) error {
	st := info(r.Context()).Session
	if st == nil || !st.dirty {
		return nil
	}
	st.dirty = false
	if len(st.sess.Values) == 0 && st.sess.IsNew {
		return nil
	}
	return st.sess.Save(r, w)
}
