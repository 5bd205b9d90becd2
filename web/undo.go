package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/tenantdb"
)

// Undo of a deleted to-do. The row is deleted at once and put back, with the same id, by
// TodoRestore; what it was travels with the person, in an undo token: the row as JSON with the
// tenant, the user and an expiry, signed with HMAC-SHA256 under a key derived from the session
// key. Nothing waits on the server (no soft-deleted rows to hide from every query and purge
// later, no schema change: see the expand/contract rule in the README), and it works without
// JavaScript: the list's address carries the token after a delete (/?undo=...), the script gets
// it in its JSON answer. The token holds a to-do the person just saw, so it needs integrity, not
// secrecy; it is bound to the tenant and the user, so it restores nothing anywhere else.

// undoWindow is how long a deleted to-do can be brought back.
const undoWindow = 10 * time.Minute

// undoRecord is what an undo token carries.
type undoRecord struct {
	Tenant  int64         `json:"tn"`
	User    int64         `json:"u"`
	Expires int64         `json:"exp"` // Unix seconds
	Todo    tenantdb.Todo `json:"todo"`
}

// errUndoExpired is the answer to an undo token that is bad, expired, or not this person's here.
var errUndoExpired = toodoo.Invalid("undo", "This to-do can no longer be restored: undo works for 10 minutes after deleting.")

// undoKey derives the signing key of undo tokens from a session key, so the two never share one.
func undoKey(sessionKey []byte) []byte {
	m := hmac.New(sha256.New, sessionKey)
	m.Write([]byte("toodoo undo token\x00"))
	return m.Sum(nil)
}

// undoSign returns the MAC of payload under the key derived from sessionKey.
func undoSign(sessionKey, payload []byte) []byte {
	m := hmac.New(sha256.New, undoKey(sessionKey))
	m.Write(payload)
	return m.Sum(nil)
}

// newUndoToken returns the token that restores todo, deleted by user on tenant, until
// now+undoWindow. It is signed with the first session key.
func (s *Server) newUndoToken(tenant, user int64, todo tenantdb.Todo, now time.Time) (string, error) {
	payload, err := json.Marshal(undoRecord{Tenant: tenant, User: user, Expires: now.Add(undoWindow).Unix(), Todo: todo})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(undoSign(s.cfg.SessionKeys[0], payload)), nil
}

// readUndoToken returns the to-do a token restores, if the token is well signed (by any session
// key, so keys rotate as the session's do), for this tenant and user, and not expired. Returns
// errUndoExpired (EINVALID) otherwise.
func (s *Server) readUndoToken(token string, tenant, user int64, now time.Time) (tenantdb.Todo, error) {
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return tenantdb.Todo{}, errUndoExpired
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil {
		return tenantdb.Todo{}, errUndoExpired
	}
	signed := false
	for _, k := range s.cfg.SessionKeys {
		if hmac.Equal(mac, undoSign(k, payload)) {
			signed = true
			break
		}
	}
	if !signed {
		return tenantdb.Todo{}, errUndoExpired
	}
	var rec undoRecord
	if err := json.Unmarshal(payload, &rec); err != nil {
		return tenantdb.Todo{}, errUndoExpired
	}
	if rec.Tenant != tenant || rec.User != user || now.Unix() > rec.Expires || rec.Todo.ID <= 0 {
		return tenantdb.Todo{}, errUndoExpired
	}
	return rec.Todo, nil
}
