package web

import (
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// sessionMaxAge is how long a session lasts without signing in again.
const sessionMaxAge = 14 * 24 * time.Hour

// Session values.
const (
	sessTenant = "t" // tenant id the session was issued on; 0 is the public site
	sessUser   = "u" // user id
	sessEpoch  = "e" // the user's session_epoch at login
	sessNonce  = "n" // random, so that every login yields a new cookie value
	sessFlash  = "f" // a one-time message for the next page
	sessFlashK = "k" // its kind: "ok" or "error"
)

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
		MaxAge:   int(sessionMaxAge / time.Second),
		HttpOnly: true,
		Secure:   cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
	store.MaxAge(store.Options.MaxAge)
	for _, c := range store.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxLength(4096)
		}
	}
	return store
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

// userFor returns the user id and epoch stored in the session if, and only if, the session was
// issued for tenantID (0: the public site). A session from another host does not authenticate.
func (st *sessionState) userFor(tenantID int64) (userID int64, epoch int64, ok bool) {
	tid, ok1 := st.sess.Values[sessTenant].(int64)
	uid, ok2 := st.sess.Values[sessUser].(int64)
	ep, ok3 := st.sess.Values[sessEpoch].(int64)
	if !ok1 || !ok2 || !ok3 || uid <= 0 || tid != tenantID {
		return 0, 0, false
	}
	return uid, ep, true
}

// start replaces the session by a new one for the user on tenantID: every old value goes (no
// fixation: nothing from before the login survives) and a fresh nonce makes the cookie new.
func (st *sessionState) start(tenantID, userID int64, epoch int32) {
	clear(st.sess.Values)
	st.sess.Values[sessTenant] = tenantID
	st.sess.Values[sessUser] = userID
	st.sess.Values[sessEpoch] = int64(epoch)
	st.sess.Values[sessNonce] = rand.Text()
	st.sess.Options.MaxAge = int(sessionMaxAge / time.Second)
	st.dirty = true
}

// end forgets the user; the cookie is deleted unless a flash message must survive.
func (st *sessionState) end() {
	clear(st.sess.Values)
	st.sess.Options.MaxAge = -1
	st.dirty = true
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
