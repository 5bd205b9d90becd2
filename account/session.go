package account

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/tenancy"
)

// SessionTTL is how long a browser session lasts after signing in, however active it is.
const SessionTTL = 14 * 24 * time.Hour

// sessionTouchEvery is how stale last_seen_at may get before a request moves it on: often
// enough for the sessions list, rarely enough that a busy session does not write at every request.
const sessionTouchEvery = time.Minute

// maxUserAgentChars bounds the user agent kept with a session (it is shown, never parsed).
const maxUserAgentChars = 200

// Session is a signed-in browser, as the sessions list shows it. The secret in the cookie is
// never stored: only its SHA-256.
type Session struct {
	ID         int64     `json:"id"`
	TenantID   int64     `json:"tenant_id"` // 0: the public site
	Workspace  string    `json:"workspace"` // the display name of TenantID's workspace, "" for the public site
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// SessionUser is who a live session belongs to, with their role in the session's workspace.
type SessionUser struct {
	User
	SessionID int64
	Role      string // RoleOwner, RoleMember, or "" when not a member (or on the public site)
}

// errNoSession is the one answer for a session secret that is unknown, ended, expired or was
// issued on another host.
var errNoSession = toodoo.Errorf(toodoo.EUNAUTHORIZED, "Your session has ended. Please sign in.")

// StartSession records a new session of userID on tenantID's host (0: the public site), valid
// SessionTTL, and returns the secret for the cookie. userAgent is kept for the sessions list,
// cut to a sane length.
func (s *Service) StartSession(ctx context.Context, userID, tenantID int64, userAgent string) (string, error) {
	secret, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	ua := toodoo.Truncate(strings.Join(strings.FieldsFunc(strings.ToValidUTF8(userAgent, ""), isSpaceOrControl), " "), maxUserAgentChars)
	_, err = s.q.SessionInsert(ctx, shareddb.SessionInsertParams{
		TokenHash: hash, UserID: userID, TenantID: tenantID, UserAgent: ua, ExpiresAt: time.Now().Add(SessionTTL),
	})
	switch {
	case toodoo.ErrorCode(err) == toodoo.ENOTFOUND: // a foreign key: the user or workspace is gone
		return "", errNoUser
	case err != nil:
		return "", fmt.Errorf("account: start session: %w", err)
	}
	return secret, nil
}

// isSpaceOrControl separates the words of a user agent: runs of spaces and control characters
// become one space.
func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// AuthenticateSession returns the user behind a session secret on tenantID's host (0: the
// public site) with their role there, in one query: the session is live, the user exists, and
// the membership is current. It moves the session's last-seen time on at most once a minute.
// Returns EUNAUTHORIZED if the secret is unknown, ended, expired, or was issued on another host.
func (s *Service) AuthenticateSession(ctx context.Context, tenantID int64, secret string) (SessionUser, error) {
	su, _, err := s.authenticateSession(ctx, tenantID, secret, 0)
	return su, err
}

// Menu is a user's workspace menu: the workspaces they may enter now (active, with a domain),
// by name, at most the max asked for plus the current one wherever it falls, and how many there
// are in all: a person in a thousand workspaces gets a menu of a dozen and a count, not a
// thousand entries on every page.
type Menu struct {
	Workspaces []Workspace // Status is StatusActive; PrimaryDomain is not loaded
	Total      int
}

// AuthenticateSessionMenu is AuthenticateSession that also returns the workspace menu of the
// session's user, at most menuMax (> 0) workspaces besides tenantID's (the current one), in the
// same statement: a page costs one round trip for both. Only pages want the menu; a request
// that shows none (the API, a form's POST answered by a redirect) asks AuthenticateSession,
// whose statement skips the menu's scans.
func (s *Service) AuthenticateSessionMenu(ctx context.Context, tenantID int64, secret string, menuMax int) (SessionUser, Menu, error) {
	return s.authenticateSession(ctx, tenantID, secret, menuMax)
}

func (s *Service) authenticateSession(ctx context.Context, tenantID int64, secret string, menuMax int) (SessionUser, Menu, error) {
	if !plausibleSecret(secret) {
		return SessionUser{}, Menu{}, errNoSession
	}
	rows, err := s.q.SessionAuthenticate(ctx, shareddb.SessionAuthenticateParams{
		TenantID: tenantID, TokenHash: hashSecret(secret), MenuMax: int64(menuMax),
	})
	switch {
	case err != nil:
		return SessionUser{}, Menu{}, fmt.Errorf("account: authenticate session: %w", err)
	case len(rows) == 0:
		return SessionUser{}, Menu{}, errNoSession
	}
	row := rows[0]
	if time.Since(row.LastSeenAt) > sessionTouchEvery {
		// Best effort: a failed touch must not refuse the request.
		_ = s.q.SessionTouch(ctx, row.SessionID)
	}
	su := SessionUser{
		User:      User{ID: row.ID, Email: row.Email, IsSuperuser: row.IsSuperuser, CreatedAt: row.CreatedAt},
		SessionID: row.SessionID,
		Role:      row.Role,
	}
	menu := Menu{Workspaces: make([]Workspace, 0, len(rows)), Total: int(row.MenuTotal)}
	for _, r := range rows {
		if r.MenuID == nil {
			break // the session's row alone: no menu
		}
		menu.Workspaces = append(menu.Workspaces, Workspace{
			TenantID: *r.MenuID, DisplayName: *r.MenuName, Status: tenancy.StatusActive, Role: *r.MenuRole,
		})
	}
	return su, menu, nil
}

// EndSession ends the session behind a secret (logging out). A secret that names no session is
// no error: the session is over either way.
func (s *Service) EndSession(ctx context.Context, secret string) error {
	if !plausibleSecret(secret) {
		return nil
	}
	if _, err := s.q.SessionDeleteByHash(ctx, hashSecret(secret)); err != nil {
		return fmt.Errorf("account: end session: %w", err)
	}
	return nil
}

// EndSessionByID ends one of the user's sessions, from the sessions list. Returns ENOTFOUND if
// the user has no such session (another user's session is not found either).
func (s *Service) EndSessionByID(ctx context.Context, userID, sessionID int64) error {
	n, err := s.q.SessionDeleteByID(ctx, shareddb.SessionDeleteByIDParams{ID: sessionID, UserID: userID})
	if err != nil {
		return fmt.Errorf("account: end session %d: %w", sessionID, err)
	}
	if n == 0 {
		return toodoo.Errorf(toodoo.ENOTFOUND, "No such session.")
	}
	return nil
}

// EndAllSessions ends every session of the user on every host ("Sign out everywhere"). It
// returns how many there were. SetPassword does the same inside its own transaction.
func (s *Service) EndAllSessions(ctx context.Context, userID int64) (int64, error) {
	return endAllSessions(ctx, s.q, userID)
}

// EndAllSessionsTx is EndAllSessions inside the caller's transaction.
func EndAllSessionsTx(ctx context.Context, tx *tenancy.Tx, userID int64) (int64, error) {
	return endAllSessions(ctx, tx.SharedQueries(), userID)
}

func endAllSessions(ctx context.Context, q *shareddb.Queries, userID int64) (int64, error) {
	n, err := q.SessionDeleteByUser(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("account: end all sessions of user %d: %w", userID, err)
	}
	return n, nil
}

// ListSessions lists the user's live sessions on every host, newest first.
func (s *Service) ListSessions(ctx context.Context, userID int64) ([]Session, error) {
	rows, err := s.q.SessionListByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("account: list sessions: %w", err)
	}
	list := make([]Session, len(rows))
	for i, r := range rows {
		list[i] = Session{ID: r.ID, TenantID: r.TenantID, Workspace: r.Workspace, UserAgent: r.UserAgent,
			CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt, ExpiresAt: r.ExpiresAt}
	}
	return list, nil
}

// PurgeExpiredSessions deletes the sessions past their expiry (they refuse to authenticate
// already; this only reclaims the rows) and returns how many went.
func (s *Service) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	n, err := purgeInBatches(ctx, s.q.SessionPurgeExpired)
	if err != nil {
		return n, fmt.Errorf("account: purge expired sessions: %w", err)
	}
	return n, nil
}
