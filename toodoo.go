// Package toodoo is the shared vocabulary of Toodoo, a schema-per-tenant to-do service: the
// errors every layer speaks, and the declared database schema (schema.hcl) embedded in the binary.
//
// Implementations live in subpackages named after what they adapt: schemadef (Atlas, the
// desired state), tenancy (PostgreSQL: tenant scope and provisioning), migrate (the fleet
// migrator), web (HTTP), and cmd/toodoo ties them together.
package toodoo

import (
	_ "embed"
	"errors"
	"fmt"
)

// SchemaHCL is schema.hcl, the single source of truth for the shared and tenant schemas.
//
//go:embed schema.hcl
var SchemaHCL []byte

// Error codes. The web layer maps each to one HTTP status (web/errors.go); the CLI prints the message.
const (
	ECONFLICT     = "conflict"     // 409: the thing exists already (a taken name, a duplicate email)
	EINTERNAL     = "internal"     // 500: a bug or an unreachable database; never shown in detail
	EINVALID      = "invalid"      // 400: input that breaks a rule; Field names the input
	ENOTFOUND     = "not_found"    // 404: absent, or belongs to another tenant (never say which)
	EFORBIDDEN    = "forbidden"    // 403: known caller, not allowed
	EUNAUTHORIZED = "unauthorized" // 401: no or bad credentials
	ESUSPENDED    = "suspended"    // 403: the workspace is suspended
	EUNAVAILABLE  = "unavailable"  // 503: overloaded (no database connection in time); try again soon
)

// Error is an error meant for the person at the other end: Message is safe to show.
type Error struct {
	Code    string
	Field   string // the input at fault, for EINVALID
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID *Error about the named field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other error
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or a generic text that
// reveals nothing for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrNotFound is the plain "no such thing" error.
var ErrNotFound = &Error{Code: ENOTFOUND, Message: "Not found."}
