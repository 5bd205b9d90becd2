package tenancy

import (
	"net"
	"regexp"
	"strings"

	"github.com/toodoo/toodoo"
)

// schemaNamePattern is the shape of a tenant schema name: lowercase, a letter first, at most 63
// bytes (PostgreSQL's identifier limit), so the name never needs case folding and never gets
// truncated. Names are still quoted everywhere.
var schemaNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// anyCasePattern is schemaNamePattern without the case rule, to tell the two mistakes apart.
var anyCasePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,62}$`)

// trashPrefix starts the names of schemas being dropped; reserved, so no tenant can take one.
const trashPrefix = "toodoo_trash_"

// reservedSchemaNames cannot be tenants: PostgreSQL's and Toodoo's own schemas.
var reservedSchemaNames = map[string]bool{
	"public":             true,
	"information_schema": true,
	"tenant_template":    true, // the name schemadef evaluates the template with
	"toodoo":             true,
}

// ValidateSchemaName returns an EINVALID error, with a message fit for a person, when name
// cannot be a tenant schema.
func ValidateSchemaName(name string) error {
	switch {
	case name == "":
		return toodoo.Invalid("name", "The tenant name is required.")
	case len(name) > 63:
		return toodoo.Invalid("name", "The tenant name %q is too long: at most 63 characters.", toodoo.Truncate(name, 70))
	case !anyCasePattern.MatchString(name):
		return toodoo.Invalid("name", "The tenant name %q is not allowed: use a lowercase letter, then lowercase letters, digits or underscores.", toodoo.Truncate(name, 70))
	case strings.ToLower(name) != name:
		return toodoo.Invalid("name", "The tenant name %q must be lowercase (names that differ only in case are not allowed).", toodoo.Truncate(name, 70))
	case !schemaNamePattern.MatchString(name):
		return toodoo.Invalid("name", "The tenant name %q is not allowed: use a lowercase letter, then lowercase letters, digits or underscores.", toodoo.Truncate(name, 70))
	case reservedSchemaNames[name], strings.HasPrefix(name, "pg_"), strings.HasPrefix(name, "toodoo_"):
		return toodoo.Invalid("name", "The tenant name %q is reserved.", name)
	}
	return nil
}

// displayName is the rule for a workspace's display name: 1 to 100 characters, nothing
// invisible-only, no control characters.
var displayName = toodoo.TextRule{Field: "display_name", Noun: "workspace name", MaxChars: 100}

// ValidateDisplayName returns an EINVALID error when name, trimmed, breaks the display-name rule
// (see toodoo.TextRule); callers store the trimmed name.
func ValidateDisplayName(name string) error {
	_, err := displayName.Clean(name)
	return err
}

// NormalizeHost turns a request's Host into the form domains are stored in: lowercase, without
// port and without a trailing dot. It does not validate.
func NormalizeHost(host string) string {
	host = strings.TrimSpace(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeDomain validates a domain given by an operator and returns it as stored: lowercase,
// no trailing dot. A port, a scheme, a path or an IP address is refused with an EINVALID error.
func NormalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	switch {
	case d == "":
		return "", toodoo.Invalid("domain", "The domain is required.")
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/?#@"):
		return "", toodoo.Invalid("domain", "The domain %q must be a bare host name (no scheme or path).", toodoo.Truncate(domain, 80))
	case strings.Contains(d, ":"):
		return "", toodoo.Invalid("domain", "The domain %q must not include a port.", toodoo.Truncate(domain, 80))
	case len(d) > 253:
		return "", toodoo.Invalid("domain", "The domain is too long: at most 253 characters.")
	case net.ParseIP(d) != nil:
		return "", toodoo.Invalid("domain", "The domain %q is an IP address; use a host name.", d)
	}
	for _, label := range strings.Split(d, ".") {
		if !domainLabel.MatchString(label) {
			return "", toodoo.Invalid("domain", "The domain %q is not a valid host name.", toodoo.Truncate(domain, 80))
		}
	}
	return d, nil
}
