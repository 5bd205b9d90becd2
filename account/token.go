package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/gen/shareddb"
	"github.com/toodoo/toodoo/tenancy"
)

// Lifetimes of the one-time secrets.
const (
	LoginTokenTTL  = 15 * time.Minute   // sign-up's redirect leads to a page with a button
	SwitchTokenTTL = 2 * time.Minute    // the workspace menu's redirect is followed at once
	InvitationTTL  = 7 * 24 * time.Hour // an invitation link is passed on by a person
)

// APITokenPrefix starts every API token, so that a leaked one is recognisable (secret scanners,
// logs) and a token can be told from other secrets.
const APITokenPrefix = "tdo_"

// tokenTouchEvery is how stale an API token's last_used_at may get before a request moves it
// on (APITokenTouch says the same in SQL).
const tokenTouchEvery = time.Minute

// newSecret returns 32 random bytes as unpadded base64url (43 characters) and their SHA-256,
// the only form stored. A plain hash suffices (no argon2): the secret has 256 bits of entropy.
func newSecret() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("account: random: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	return s, hashSecret(s), nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// plausibleSecret filters out garbage before it reaches the database (a bearer header of a
// megabyte, say); any string of a sane length still just fails to match.
func plausibleSecret(s string) bool { return s != "" && len(s) <= 128 }

// IssueLoginToken returns a one-time token that signs userID in on tenantID's host (0: the
// public site) within ttl (LoginTokenTTL if ttl <= 0).
func (s *Service) IssueLoginToken(ctx context.Context, userID, tenantID int64, ttl time.Duration) (string, error) {
	return issueLoginToken(ctx, s.q, userID, tenantID, ttl)
}

// IssueLoginTokenTx is IssueLoginToken inside the caller's transaction (sign-up issues it inside
// tenancy.Create's Then callback, so that the token exists exactly if the workspace does).
func IssueLoginTokenTx(ctx context.Context, tx *tenancy.Tx, userID, tenantID int64, ttl time.Duration) (string, error) {
	return issueLoginToken(ctx, tx.SharedQueries(), userID, tenantID, ttl)
}

func issueLoginToken(ctx context.Context, q *shareddb.Queries, userID, tenantID int64, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = LoginTokenTTL
	}
	token, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	err = q.LoginTokenInsert(ctx, shareddb.LoginTokenInsertParams{
		TokenHash: hash, UserID: userID, TenantID: tenantID, ExpiresAt: time.Now().Add(ttl),
	})
	if err != nil {
		return "", fmt.Errorf("account: issue login token: %w", err)
	}
	return token, nil
}

// errBadLoginToken is the one answer for a token that is unknown, used, expired or for another
// tenant.
var errBadLoginToken = toodoo.Errorf(toodoo.EUNAUTHORIZED, "This sign-in link is invalid or has expired. Please sign in.")

// CheckLoginToken reports whether token is a live login token on tenantID (0: the public site),
// without spending it, and returns its user's id: the page behind the link shows a button when
// it is, so that link scanners and prefetchers, which GET (or HEAD) it, burn nothing. Returns
// EUNAUTHORIZED if the token is unknown, used, expired or was issued for another tenant.
func (s *Service) CheckLoginToken(ctx context.Context, tenantID int64, token string) (int64, error) {
	if !plausibleSecret(token) {
		return 0, errBadLoginToken
	}
	userID, err := s.q.LoginTokenGet(ctx, shareddb.LoginTokenGetParams{TokenHash: hashSecret(token), TenantID: tenantID})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return 0, errBadLoginToken
	case err != nil:
		return 0, fmt.Errorf("account: check login token: %w", err)
	}
	return userID, nil
}

// ConsumeLoginToken spends a login token on tenantID (0: the public site) and returns its user's
// id. Returns
// EUNAUTHORIZED if the token is unknown, used, expired or was issued for another tenant.
func (s *Service) ConsumeLoginToken(ctx context.Context, tenantID int64, token string) (int64, error) {
	if !plausibleSecret(token) {
		return 0, errBadLoginToken
	}
	userID, err := s.q.LoginTokenConsume(ctx, shareddb.LoginTokenConsumeParams{TokenHash: hashSecret(token), TenantID: tenantID})
	if errors.Is(err, toodoo.ErrNotFound) {
		return 0, errBadLoginToken
	}
	if err != nil {
		return 0, fmt.Errorf("account: consume login token: %w", err)
	}
	return userID, nil
}

// Invitation is a pending invitation, as the page that accepts it shows it.
type Invitation struct {
	TenantID  int64     `json:"tenant_id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

var errBadInvitation = toodoo.Errorf(toodoo.ENOTFOUND, "This invitation is invalid, used or expired. Ask for a new one.")

// CreateInvitation invites someone without an account to the workspace and returns the
// one-time token for the link shown to the owner (valid InvitationTTL, on this tenant only).
// Returns EINVALID for a bad email or role, ECONFLICT if the email has an account already (add
// the user as a member instead).
func (s *Service) CreateInvitation(ctx context.Context, tenantID int64, email, role string, invitedBy int64) (string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	if err := ValidateRole(role); err != nil {
		return "", err
	}
	if _, err := s.q.UserGetByEmail(ctx, email); err == nil {
		return "", toodoo.Errorf(toodoo.ECONFLICT, "A user with this email exists already: add them as a member instead.")
	} else if !errors.Is(err, toodoo.ErrNotFound) {
		return "", fmt.Errorf("account: create invitation: %w", err)
	}
	token, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	var by *int64
	if invitedBy != 0 {
		by = &invitedBy
	}
	err = s.q.InvitationInsert(ctx, shareddb.InvitationInsertParams{
		TokenHash: hash, TenantID: tenantID, Email: email, Role: role, InvitedBy: by, ExpiresAt: time.Now().Add(InvitationTTL),
	})
	if err != nil {
		return "", fmt.Errorf("account: create invitation: %w", err)
	}
	return token, nil
}

// GetInvitation returns the live invitation to tenantID behind token, without spending it.
// Returns ENOTFOUND if it is unknown, used, expired or for another tenant.
func (s *Service) GetInvitation(ctx context.Context, tenantID int64, token string) (Invitation, error) {
	if !plausibleSecret(token) {
		return Invitation{}, errBadInvitation
	}
	row, err := s.q.InvitationGet(ctx, shareddb.InvitationGetParams{TokenHash: hashSecret(token), TenantID: tenantID})
	switch {
	case errors.Is(err, toodoo.ErrNotFound):
		return Invitation{}, errBadInvitation
	case err != nil:
		return Invitation{}, fmt.Errorf("account: get invitation: %w", err)
	}
	return Invitation{TenantID: row.TenantID, Email: row.Email, Role: row.Role, ExpiresAt: row.ExpiresAt}, nil
}

// AcceptInvitation spends an invitation to tenantID: in one transaction it creates the account
// with the invited email and password and the membership with the invited role. Returns
// ENOTFOUND if the invitation is unknown, used, expired or for another tenant (or the workspace
// is gone), EINVALID for a password that breaks the rules, ECONFLICT if the email got an account
// meanwhile.
func (s *Service) AcceptInvitation(ctx context.Context, tenantID int64, token, password string) (User, Membership, error) {
	if !plausibleSecret(token) {
		return User{}, Membership{}, errBadInvitation
	}
	if err := ValidatePassword(password); err != nil {
		return User{}, Membership{}, err
	}
	var u User
	var m Membership
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		inv, err := consumeInvitation(ctx, tx.SharedQueries(), tenantID, token)
		if err != nil {
			return err
		}
		if u, err = s.CreateUserTx(ctx, tx, inv.Email, password, false); err != nil {
			return err
		}
		if err := AddMemberTx(ctx, tx, inv.TenantID, u.ID, inv.Role); err != nil {
			return err
		}
		m = Membership{UserID: u.ID, TenantID: inv.TenantID, Role: inv.Role}
		return nil
	})
	if err != nil {
		return User{}, Membership{}, fmt.Errorf("account: accept invitation: %w", err)
	}
	return u, m, nil
}

// APIToken describes an API token; the secret itself is shown once, at creation, and never stored.
type APIToken struct {
	ID         int64      `json:"id"`
	TenantID   int64      `json:"tenant_id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// tokenName is the rule for an API token's label: 1 to 100 characters, nothing invisible-only,
// no control characters.
var tokenName = toodoo.TextRule{Field: "name", Noun: "token name", MaxChars: 100}

// ValidateTokenName returns an EINVALID error when name, trimmed, breaks the token-name rule (see
// toodoo.TextRule), so the CLI can refuse a label before it opens the database.
func ValidateTokenName(name string) error {
	_, err := tokenName.Clean(name)
	return err
}

// CreateAPIToken creates an API token for userID on tenantID and returns it with its secret
// ("tdo_" + 43 characters), which is shown once and stored only as a hash. The caller checks
// that the user may enter the workspace; AuthenticateAPIToken checks it again at every use.
// Returns EINVALID for a bad name.
func (s *Service) CreateAPIToken(ctx context.Context, tenantID, userID int64, name string) (APIToken, string, error) {
	name, err := tokenName.Clean(name)
	if err != nil {
		return APIToken{}, "", err
	}
	random, _, err := newSecret()
	if err != nil {
		return APIToken{}, "", err
	}
	secret := APITokenPrefix + random
	row, err := s.q.APITokenInsert(ctx, shareddb.APITokenInsertParams{
		TenantID: tenantID, UserID: userID, Name: name, TokenHash: hashSecret(secret),
	})
	if err != nil {
		return APIToken{}, "", fmt.Errorf("account: create API token: %w", err)
	}
	return APIToken{ID: row.ID, TenantID: row.TenantID, UserID: row.UserID, Name: row.Name,
		CreatedAt: row.CreatedAt, LastUsedAt: row.LastUsedAt, RevokedAt: row.RevokedAt}, secret, nil
}

var errBadAPIToken = toodoo.Errorf(toodoo.EUNAUTHORIZED, "Invalid or revoked API token.")

// AuthenticateAPIToken returns the user behind a bearer secret on tenantID. Returns
// EUNAUTHORIZED if the secret is unknown, revoked, issued for another tenant, or its user is no
// longer a member there (and not a superuser).
func (s *Service) AuthenticateAPIToken(ctx context.Context, tenantID int64, secret string) (User, error) {
	if !plausibleSecret(secret) || !strings.HasPrefix(secret, APITokenPrefix) {
		return User{}, errBadAPIToken
	}
	row, err := s.q.APITokenAuthenticate(ctx, shareddb.APITokenAuthenticateParams{TokenHash: hashSecret(secret), TenantID: tenantID})
	if errors.Is(err, toodoo.ErrNotFound) {
		return User{}, errBadAPIToken
	}
	if err != nil {
		return User{}, fmt.Errorf("account: authenticate API token: %w", err)
	}
	// Best effort and at most once a minute per token (checked here, which spares a busy token a
	// round trip per request, and again by the query, which keeps concurrent requests from
	// writing twice): a failed touch must not refuse the request.
	if row.LastUsedAt == nil || time.Since(*row.LastUsedAt) > tokenTouchEvery {
		_ = s.q.APITokenTouch(ctx, row.ID)
	}
	return User{ID: row.UserID, Email: row.Email, IsSuperuser: row.IsSuperuser, CreatedAt: row.CreatedAt}, nil
}

// ListAPITokens lists a user's tokens on a workspace, newest first, revoked ones included.
func (s *Service) ListAPITokens(ctx context.Context, tenantID, userID int64) ([]APIToken, error) {
	rows, err := s.q.APITokenList(ctx, shareddb.APITokenListParams{TenantID: tenantID, UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("account: list API tokens: %w", err)
	}
	tokens := make([]APIToken, len(rows))
	for i, r := range rows {
		tokens[i] = APIToken{ID: r.ID, TenantID: r.TenantID, UserID: r.UserID, Name: r.Name,
			CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
	}
	return tokens, nil
}

// RevokeAPIToken revokes one of the user's tokens on the workspace. Returns ENOTFOUND if there
// is no such live token of theirs there (another user's token is not found either).
func (s *Service) RevokeAPIToken(ctx context.Context, tenantID, userID, tokenID int64) error {
	n, err := s.q.APITokenRevoke(ctx, shareddb.APITokenRevokeParams{ID: tokenID, TenantID: tenantID, UserID: userID})
	if err != nil {
		return fmt.Errorf("account: revoke API token: %w", err)
	}
	if n == 0 {
		return toodoo.Errorf(toodoo.ENOTFOUND, "No such API token.")
	}
	return nil
}
