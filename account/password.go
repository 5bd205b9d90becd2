package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/toodoo/toodoo"
)

// Password length rules. The upper bound is in bytes: argon2 would hash a megabyte happily, but
// nobody's password is that long and an unbounded input is a cheap way to burn CPU.
const (
	MinPasswordChars = 8
	MaxPasswordBytes = 1024
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams is OWASP's first argon2id recommendation (19 MiB, 2 passes, 1 lane). Measured on
// the 2-core development machine (shared with other builds): about 48 ms per hash; 64 MiB with
// 1 pass took 126 ms, and 19 MiB keeps memory per concurrent login modest.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ValidatePassword checks the password rules; the error message is fit for a person and never
// contains the password.
func ValidatePassword(password string) error {
	switch {
	case len(password) > MaxPasswordBytes:
		return toodoo.Invalid("password", "The password is too long: at most %d bytes.", MaxPasswordBytes)
	case utf8.RuneCountInString(password) < MinPasswordChars:
		return toodoo.Invalid("password", "The password is too short: at least %d characters.", MinPasswordChars)
	}
	return nil
}

// Hash returns the PHC string of password under p: $argon2id$v=19$m=...,t=...,p=...$salt$hash,
// with unpadded standard base64 as the reference implementation writes it.
func (p Params) Hash(password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// NeedsRehash reports whether encoded was made with other parameters than p (or cannot be
// read), so that a successful login should store a fresh hash.
func (p Params) NeedsRehash(encoded string) bool {
	got, salt, key, err := decodeHash(encoded)
	if err != nil {
		return true
	}
	return got.Memory != p.Memory || got.Time != p.Time || got.Threads != p.Threads ||
		uint32(len(salt)) != p.SaltLen || uint32(len(key)) != p.KeyLen
}

// errBadHash is a stored hash that cannot be read: a bug or a corrupted row, never the user's fault.
var errBadHash = errors.New("account: malformed password hash")

// VerifyPassword reports whether password matches the PHC string encoded, comparing in constant
// time. It uses the parameters recorded in encoded, so old hashes keep working after the
// defaults change.
func VerifyPassword(password, encoded string) (bool, error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// decodeHash parses a PHC argon2id string.
func decodeHash(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=...,t=...,p=...", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", errBadHash, parts[3])
	}
	// Refuse absurd costs from a tampered row instead of allocating gigabytes.
	if p.Memory < 8 || p.Memory > 1<<21 || p.Time < 1 || p.Time > 100 || p.Threads < 1 {
		return p, nil, nil, fmt.Errorf("%w: parameters out of range", errBadHash)
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", errBadHash)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, fmt.Errorf("%w: key", errBadHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// hashNewPassword checks a password someone is choosing (sign-up, change, reset, accepted
// invitation) against the rules and returns its hash under the current parameters. Returns
// EINVALID for a password that breaks the rules.
func (s *Service) hashNewPassword(password string) (string, error) {
	if err := ValidatePassword(password); err != nil {
		return "", err
	}
	return s.Params.Hash(password)
}
