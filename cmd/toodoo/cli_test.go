package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/tenancy"
)

// Every operator subcommand answers --help with exit 0 and its usage line, without a database.
func TestHelp(t *testing.T) {
	t.Parallel()
	c := noDB(t)
	for _, args := range [][]string{
		{"tenant", "create"}, {"tenant", "list"}, {"tenant", "suspend"}, {"tenant", "resume"}, {"tenant", "delete"},
		{"domain", "add"}, {"domain", "remove"},
		{"user", "create"}, {"user", "passwd"},
		{"member", "add"}, {"member", "remove"}, {"member", "list"},
		{"token", "create"}, {"token", "list"}, {"token", "revoke"},
	} {
		r := c.run(append(args, "--help")...)
		want := "Usage: toodoo " + strings.Join(args, " ")
		if r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("toodoo %s --help: exit %d, stderr %q; want 0 and %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
	for _, noun := range []string{"tenant", "domain", "user", "member", "token"} {
		if r := c.run(noun, "--help"); r.code != 0 || !strings.Contains(r.stderr, "Usage: toodoo "+noun) {
			t.Errorf("toodoo %s --help: exit %d, stderr %q", noun, r.code, r.stderr)
		}
	}
	if r := c.run("--help"); r.code != 0 || !strings.Contains(r.stdout, "tenant") {
		t.Errorf("toodoo --help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// --help must not print DATABASE_URL, which carries a password.
func TestHelpHidesDatabaseURL(t *testing.T) {
	t.Parallel()
	c := noDB(t)
	c.vars["DATABASE_URL"] = "postgres://u:s3cret@db/toodoo"
	r := c.run("tenant", "list", "--help")
	if strings.Contains(r.stderr+r.stdout, "s3cret") {
		t.Fatalf("--help shows the database password: %q", r.stderr)
	}
}

// Bad usage: exit 2 and one line on stderr, before any database is needed.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	c := noDB(t)
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"tenant"}, "tenant: missing subcommand"},
		{[]string{"tenant", "frob"}, `unknown subcommand "frob"`},
		{[]string{"tenant", "create"}, "tenant create: missing NAME"},
		{[]string{"tenant", "create", "a", "b"}, "tenant create: expected NAME, got 2 arguments"},
		{[]string{"tenant", "create", "acme", "--frob"}, "flag provided but not defined: -frob"},
		{[]string{"tenant", "list", "extra"}, `tenant list: unexpected argument "extra"`},
		{[]string{"tenant", "suspend"}, "tenant suspend: missing NAME"},
		{[]string{"tenant", "resume", "a", "b"}, "expected NAME"},
		{[]string{"tenant", "delete"}, "tenant delete: missing NAME"},
		{[]string{"tenant", "delete", "a", "b"}, "expected NAME"},
		{[]string{"domain", "add", "acme"}, "domain add: missing DOMAIN"},
		{[]string{"domain", "remove"}, "domain remove: missing DOMAIN"},
		{[]string{"user", "create"}, "user create: missing EMAIL"},
		{[]string{"user", "passwd"}, "user passwd: missing EMAIL"},
		{[]string{"member", "add", "acme"}, "member add: missing EMAIL"},
		{[]string{"member", "add", "acme", "a@b.c", "--role", "boss"}, `--role must be owner or member, not "boss"`},
		{[]string{"member", "remove", "acme"}, "member remove: missing EMAIL"},
		{[]string{"token", "create", "acme"}, "token create: missing EMAIL"},
		{[]string{"token", "revoke", "acme", "a@b.c", "x"}, `ID must be a token number`},
		// No database configured.
		{[]string{"tenant", "list"}, "no database: set DATABASE_URL or pass --database-url"},
		// No terminal and no --password-stdin: refuse instead of hanging.
		{[]string{"user", "create", "ann@example.com"}, "stdin is not a terminal, so no password can be typed: pass it on stdin with --password-stdin"},
	} {
		c.fails(2, test.want, test.args...)
	}
}

// Hostile or malformed tenant names are refused with a clear message, and nothing is created.
func TestHostileTenantNames(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("tenant", "create", "acme")
	for _, test := range []struct{ name, want string }{
		{`a"; DROP SCHEMA public; --`, `The tenant name "a\"; DROP SCHEMA public; --"`},
		{`a"; drop schema public; --`, "is not allowed: use a lowercase letter, then lowercase letters, digits or underscores."},
		{"PG_x", `The tenant name "PG_x" must be lowercase`},
		{"pg_x", `The tenant name "pg_x" is reserved.`},
		{"public", `The tenant name "public" is reserved.`},
		{"toodoo_trash_1_x", "is reserved."},
		{strings.Repeat("a", 64), "is too long: at most 63 characters."},
		{"Acme", `The tenant name "Acme" must be lowercase (names that differ only in case are not allowed).`},
		{"", "The tenant name is required."},
		{"1abc", "is not allowed"},
		{"acme", `A tenant named "acme" exists already.`},
	} {
		c.fails(1, test.want, "tenant", "create", test.name)
	}
	if got := c.query("SELECT count(*) FROM public.tenants"); got != "1" {
		t.Fatalf("%s tenants, want 1", got)
	}
	// Schemas of extensions (citus, columnar… on a Citus cluster) are not ours to count.
	if got := c.query(`SELECT count(*) FROM pg_namespace n WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'toodoo_river')
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
		AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extnamespace = n.oid AND n.nspname <> 'public')`); got != "2" {
		t.Fatalf("%s schemas (want public and acme)", got)
	}
}

func TestTenantCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.vars["TOODOO_BASE_DOMAIN"] = "Toodoo.Test:8080"

	out := c.ok("tenant", "create", "acme", "--name", "Acme Inc.")
	if !regexp.MustCompile(`^Created tenant acme \("Acme Inc\.", id \d+\) with domain acme\.toodoo\.test in [0-9.]+[µm]?s\.\n$`).MatchString(out) {
		t.Fatalf("tenant create: %q", out)
	}
	c.ok("tenant", "create", "globex", "--domain", "Globex.Example.COM")
	c.fails(1, `The domain "globex.example.com" is taken.`, "tenant", "create", "initech", "--domain", "globex.example.com")
	c.fails(1, "must not include a port", "tenant", "create", "initech", "--domain", "initech.test:80")
	c.fails(1, "The workspace name is too long", "tenant", "create", "initech", "--name", strings.Repeat("x", 101))
	// A flag before the positional works too.
	c.ok("tenant", "create", "--name", "Initech", "initech")

	c.ok("tenant", "suspend", "globex")
	c.fails(1, `No tenant named "nope".`, "tenant", "suspend", "nope")

	table := c.ok("tenant", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "SCHEMA") {
		t.Fatalf("tenant list:\n%s", table)
	}
	if f := strings.Fields(lines[2]); f[0] != "globex" || f[2] != "suspended" || f[3] != "globex.example.com" || f[4] != "0" || f[5] != "current" {
		t.Fatalf("tenant list, globex: %q", lines[2])
	}

	var list []tenantRow
	if err := json.Unmarshal([]byte(c.ok("tenant", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "acme" || list[0].DisplayName != "Acme Inc." || list[0].PrimaryDomain != "acme.toodoo.test" || list[0].SchemaState != "current" {
		t.Fatalf("tenant list --json: %+v", list)
	}

	// The ledger's view: a schema that is behind, or failed.
	c.query("UPDATE public.schema_ledger SET applied_hash = 'old' WHERE schema_name = 'acme' RETURNING 1")
	c.query("UPDATE public.schema_ledger SET last_error = 'boom' WHERE schema_name = 'initech' RETURNING 1")
	if err := json.Unmarshal([]byte(c.ok("tenant", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if list[0].SchemaState != "behind" || list[2].SchemaState != "failed" || list[2].LastError != "boom" {
		t.Fatalf("schema states: %+v", list)
	}

	c.ok("tenant", "resume", "globex")
	if got := c.query("SELECT status FROM public.tenants WHERE schema_name = 'globex'"); got != "active" {
		t.Fatalf("status after resume: %s", got)
	}

	// Delete keeps the schema, --drop removes it.
	c.ok("tenant", "delete", "globex")
	if got := c.query("SELECT status FROM public.tenants WHERE schema_name = 'globex'"); got != "deleted" {
		t.Fatalf("status after delete: %s", got)
	}
	if got := c.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'globex'"); got != "1" {
		t.Fatal("delete without --drop removed the schema")
	}
	if out := c.ok("tenant", "list"); strings.Contains(out, "globex") {
		t.Fatalf("deleted tenant listed without --all:\n%s", out)
	}
	if out := c.ok("tenant", "list", "--all"); !strings.Contains(out, "deleted") {
		t.Fatalf("tenant list --all:\n%s", out)
	}
	c.ok("tenant", "delete", "globex", "--drop")
	if got := c.query("SELECT count(*) FROM pg_namespace WHERE nspname = 'globex' OR nspname LIKE 'toodoo_trash_%'"); got != "0" {
		t.Fatal("delete --drop left a schema behind")
	}
	c.fails(1, `No tenant named "globex".`, "tenant", "delete", "globex")
	// The name is free again.
	c.ok("tenant", "create", "globex")
}

// An interrupted drop leaves a schema in the trash; --purge-trash finishes it.
func TestTenantPurgeTrash(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	if out := c.ok("tenant", "delete", "--purge-trash"); out != "The trash is empty.\n" {
		t.Fatalf("purge of an empty trash: %q", out)
	}
	c.exec(`CREATE SCHEMA toodoo_trash_9_acme; CREATE TABLE toodoo_trash_9_acme.todos (id int); CREATE TABLE toodoo_trash_9_acme.other (id int)`)
	if out := c.ok("tenant", "delete", "--purge-trash"); out != "Dropped toodoo_trash_9_acme.\n" {
		t.Fatalf("purge: %q", out)
	}
	if got := c.query("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'toodoo_trash_%'"); got != "0" {
		t.Fatal("the trash schema survived --purge-trash")
	}
	// With a name, --purge-trash runs after the delete.
	c.ok("tenant", "create", "acme")
	if out := c.ok("tenant", "delete", "acme", "--drop", "--purge-trash"); !strings.HasPrefix(out, "Deleted tenant acme and dropped its schema.\n") {
		t.Fatalf("delete --drop --purge-trash: %q", out)
	}
}

func TestDomainCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("tenant", "create", "acme")
	c.ok("tenant", "create", "globex")

	if out := c.ok("domain", "add", "acme", "Todo.Acme.COM"); out != "Added domain todo.acme.com to tenant acme.\n" {
		t.Fatalf("domain add: %q", out)
	}
	c.fails(1, `The domain "todo.acme.com" is taken.`, "domain", "add", "globex", "todo.acme.com")
	c.fails(1, "belongs to \"acme\" already", "domain", "add", "acme", "todo.acme.com")
	c.fails(1, "must be a bare host name", "domain", "add", "acme", "https://acme.com/")
	c.fails(1, "is an IP address", "domain", "add", "acme", "10.0.0.1")
	c.fails(1, `No tenant named "nope".`, "domain", "add", "nope", "x.test")

	c.ok("domain", "add", "acme", "todo.acme.com", "--primary")
	if got := c.query("SELECT string_agg(domain || '=' || is_primary, ',' ORDER BY domain) FROM public.domains WHERE tenant_id = (SELECT id FROM public.tenants WHERE schema_name = 'acme')"); got != "acme.localhost=false,todo.acme.com=true" {
		t.Fatalf("domains: %s", got)
	}
	c.fails(1, "is its tenant's primary domain", "domain", "remove", "todo.acme.com")
	if out := c.ok("domain", "remove", "ACME.localhost."); out != "Removed domain acme.localhost.\n" {
		t.Fatalf("domain remove: %q", out)
	}
	c.fails(1, `No domain "acme.localhost".`, "domain", "remove", "acme.localhost")
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)

	c.stdin = "correct horse\nignored second line\n"
	if out := c.ok("user", "create", "Ann@Example.com", "--password-stdin"); !regexp.MustCompile(`^Created user Ann@Example.com \(id \d+\)\.\n$`).MatchString(out) {
		t.Fatalf("user create: %q", out)
	}
	c.stdin = "correct horse"
	c.fails(1, "A user with this email exists already.", "user", "create", "ann@EXAMPLE.com", "--password-stdin")
	c.stdin = "short\n"
	c.fails(1, "The password is too short: at least 8 characters.", "user", "create", "bob@example.com", "--password-stdin")
	c.stdin = strings.Repeat("x", 2000)
	c.fails(1, "The password is too long: at most 1024 bytes.", "user", "create", "bob@example.com", "--password-stdin")
	c.stdin = "correct horse\n"
	c.fails(1, `"bob" is not an email address.`, "user", "create", "bob", "--password-stdin")

	// At a terminal: typed twice.
	var prompts []string
	typed := []string{"root password", "root password"}
	c.prompt = func(p string) (string, error) {
		prompts = append(prompts, p)
		s := typed[0]
		typed = typed[1:]
		return s, nil
	}
	if out := c.ok("user", "create", "root@example.com", "--superuser"); !strings.HasPrefix(out, "Created superuser root@example.com") {
		t.Fatalf("user create --superuser: %q", out)
	}
	if len(prompts) != 2 {
		t.Fatalf("prompts %q, want two", prompts)
	}
	typed = []string{"root password", "root passwort"}
	c.fails(1, "The two passwords do not match.", "user", "create", "root2@example.com")
	typed = []string{"short"}
	c.fails(1, "The password is too short", "user", "create", "root2@example.com")
	c.prompt = func(string) (string, error) { return "", errors.New("EOF at the terminal") }
	c.fails(1, "read password: EOF at the terminal", "user", "create", "root2@example.com")
	c.prompt = nil

	// passwd: the new password works, the old one does not.
	c.stdin = "new password\n"
	if out := c.ok("user", "passwd", "ANN@example.com", "--password-stdin"); out != "Changed the password of Ann@Example.com; their sessions are signed out and their API tokens revoked.\n" {
		t.Fatalf("user passwd: %q", out)
	}
	svc := accounts(t, c)
	if _, err := svc.Authenticate(t.Context(), "ann@example.com", "new password"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := svc.Authenticate(t.Context(), "ann@example.com", "correct horse"); toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
		t.Fatalf("old password: %v", err)
	}
	c.stdin = "new password\n"
	c.fails(1, "No user with email zed@example.com.", "user", "passwd", "zed@example.com", "--password-stdin")
	c.fails(2, "user passwd: stdin is not a terminal", "user", "passwd", "ann@example.com")
}

// accounts returns the account service on the CLI's database.
func accounts(t *testing.T, c *cli) *account.Service {
	t.Helper()
	db, err := tenancy.Open(t.Context(), c.vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return account.New(db)
}

func TestMemberCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("tenant", "create", "acme")
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		c.stdin = "correct horse\n"
		c.ok("user", "create", email, "--password-stdin")
	}

	if out := c.ok("member", "add", "acme", "ANN@example.com", "--role", "owner"); out != "ann@example.com is now an owner of tenant acme.\n" {
		t.Fatalf("member add: %q", out)
	}
	if out := c.ok("member", "add", "acme", "bob@example.com"); out != "bob@example.com is now a member of tenant acme.\n" {
		t.Fatalf("member add (default role): %q", out)
	}
	c.fails(1, "No user with email nobody@example.com.", "member", "add", "acme", "nobody@example.com")
	c.fails(1, `No tenant named "nope".`, "member", "add", "nope", "ann@example.com")
	lastOwner := "A workspace cannot lose its last owner: make someone else an owner first."
	c.fails(1, lastOwner, "member", "remove", "acme", "ann@example.com")
	c.fails(1, lastOwner, "member", "add", "acme", "ann@example.com", "--role", "member")

	out := c.ok("member", "list", "acme")
	if !regexp.MustCompile(`(?s)^EMAIL +ROLE +SINCE\nann@example.com +owner +\d{4}-\d\d-\d\d\nbob@example.com +member`).MatchString(out) {
		t.Fatalf("member list:\n%s", out)
	}

	if out := c.ok("member", "remove", "acme", "bob@example.com"); out != "bob@example.com is no longer a member of tenant acme.\n" {
		t.Fatalf("member remove: %q", out)
	}
	c.fails(1, "That user is not a member of this workspace.", "member", "remove", "acme", "bob@example.com")
	c.fails(1, "No user with email nobody@example.com.", "member", "remove", "acme", "nobody@example.com")

	c.ok("tenant", "delete", "acme")
	c.fails(1, `The tenant "acme" is deleted.`, "member", "add", "acme", "bob@example.com")
}

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("tenant", "create", "acme")
	c.ok("tenant", "create", "globex")
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		c.stdin = "correct horse\n"
		c.ok("user", "create", email, "--password-stdin")
	}
	c.stdin = "correct horse\n"
	c.ok("user", "create", "root@example.com", "--superuser", "--password-stdin")
	c.ok("member", "add", "acme", "ann@example.com", "--role", "owner")

	out := c.ok("token", "create", "acme", "ann@example.com", "--label", "laptop")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	secret := lines[len(lines)-1] // what `tail -n1` gives a script
	if !regexp.MustCompile(`^tdo_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("token create: last line %q is not the token alone (output %q)", secret, out)
	}
	svc := accounts(t, c)
	var acmeID, globexID int64
	fmt.Sscan(c.query("SELECT id FROM public.tenants WHERE schema_name = 'acme'"), &acmeID)
	fmt.Sscan(c.query("SELECT id FROM public.tenants WHERE schema_name = 'globex'"), &globexID)
	u, err := svc.AuthenticateAPIToken(t.Context(), acmeID, secret)
	if err != nil || u.Email != "ann@example.com" {
		t.Fatalf("the printed token does not authenticate: %+v, %v", u, err)
	}
	if _, err := svc.AuthenticateAPIToken(t.Context(), globexID, secret); toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
		t.Fatalf("token accepted on another tenant: %v", err)
	}

	c.fails(1, "bob@example.com is not a member of tenant acme", "token", "create", "acme", "bob@example.com")
	c.fails(1, "No user with email zed@example.com.", "token", "create", "acme", "zed@example.com")
	c.fails(1, `No tenant named "nope".`, "token", "create", "nope", "ann@example.com")
	c.fails(1, "The token name is too long", "token", "create", "acme", "ann@example.com", "--label", strings.Repeat("x", 101))
	// A superuser needs no membership.
	if out := c.ok("token", "create", "globex", "root@example.com"); !strings.Contains(out, `("cli `) {
		t.Fatalf("default label: %q", out)
	}

	list := c.ok("token", "list", "acme", "ann@example.com")
	if !strings.Contains(list, "laptop") || !strings.Contains(list, "active") {
		t.Fatalf("token list:\n%s", list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	if out := c.ok("token", "revoke", "acme", "ann@example.com", id); out != "Revoked API token "+id+".\n" {
		t.Fatalf("token revoke: %q", out)
	}
	c.fails(1, "has no active API token "+id, "token", "revoke", "acme", "ann@example.com", id)
	if _, err := svc.AuthenticateAPIToken(t.Context(), acmeID, secret); toodoo.ErrorCode(err) != toodoo.EUNAUTHORIZED {
		t.Fatalf("revoked token accepted: %v", err)
	}
	if list := c.ok("token", "list", "acme", "ann@example.com"); !strings.Contains(list, "revoked") {
		t.Fatalf("token list after revoke:\n%s", list)
	}
}
