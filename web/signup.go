package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/account"
	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/tenancy"
)

// reservedSubdomains cannot be workspaces: they name (or may one day name) the platform's own
// services, or invite confusion and phishing.
var reservedSubdomains = map[string]bool{
	"www": true, "admin": true, "administrator": true, "api": true, "app": true, "apps": true,
	"static": true, "assets": true, "cdn": true, "media": true, "files": true, "img": true,
	"mail": true, "email": true, "smtp": true, "imap": true, "pop": true, "pop3": true, "mx": true,
	"webmail": true, "ftp": true, "sftp": true, "ssh": true, "vpn": true,
	"ns": true, "ns1": true, "ns2": true, "ns3": true, "dns": true,
	"auth": true, "login": true, "logout": true, "signin": true, "signup": true, "sso": true,
	"oauth": true, "account": true, "accounts": true, "id": true, "identity": true,
	"billing": true, "pay": true, "payments": true, "invoice": true, "dashboard": true,
	"help": true, "support": true, "docs": true, "doc": true, "status": true, "blog": true,
	"news": true, "about": true, "security": true, "abuse": true, "postmaster": true,
	"hostmaster": true, "webmaster": true, "noreply": true, "no-reply": true,
	"dev": true, "test": true, "testing": true, "staging": true, "stage": true, "prod": true,
	"production": true, "demo": true, "sandbox": true, "internal": true, "intranet": true,
	"root": true, "system": true, "public": true, "toodoo": true, "localhost": true,
	"metrics": true, "monitoring": true, "healthz": true, "readyz": true, "git": true,
	"information-schema": true, "tenant-template": true,
}

// subdomainPattern: 3 to 32 characters, lowercase letters, digits and single hyphens, starting
// with a letter and not ending with a hyphen. A hyphen becomes an underscore in the schema name,
// which is one-to-one because underscores are not allowed here.
var subdomainPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}[a-z0-9]$`)

// validateSubdomain returns the normalized subdomain and the tenant (schema) name for it, or an
// EINVALID error about the field "subdomain". The messages call it "address", as the form's
// label does.
func validateSubdomain(sub string) (subdomain, name string, err error) {
	sub = strings.ToLower(strings.TrimSpace(sub))
	switch {
	case sub == "":
		return "", "", toodoo.Invalid("subdomain", "Choose an address.")
	case len(sub) < 3 || len(sub) > 32:
		return "", "", toodoo.Invalid("subdomain", "The address must be 3 to 32 characters long.")
	case !subdomainPattern.MatchString(sub) || strings.Contains(sub, "--"):
		return "", "", toodoo.Invalid("subdomain", "Use lowercase letters, digits and single hyphens in the address, starting with a letter.")
	case reservedSubdomains[sub], strings.HasPrefix(sub, "pg-"), strings.HasPrefix(sub, "toodoo"):
		return "", "", toodoo.Invalid("subdomain", "The address %q is reserved. Please choose another.", sub)
	}
	name = strings.ReplaceAll(sub, "-", "_")
	if err := tenancy.ValidateSchemaName(name); err != nil {
		return "", "", toodoo.Invalid("subdomain", "The address %q is reserved. Please choose another.", sub)
	}
	return sub, name, nil
}

// siteURL is the URL of host's site as the visitor reaches this server: same scheme, and the
// port of the request's Host (so "localhost:8080" leads to "acme.localhost:8080").
func (s *Server) siteURL(r *http.Request, host string) string {
	scheme := info(r.Context()).Scheme
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" &&
		!(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host = net.JoinHostPort(host, port)
	}
	return scheme + "://" + host
}

// homePage is the public site's landing page.
type homePage struct {
	page
	BaseDomain string
	All        []menuWorkspace // the signed-in visitor's workspaces, every one (the menu's are bounded)
}

// handleHomeShow shows what Toodoo is and, to a signed-in visitor, their workspaces, each a
// button that signs them in there (see handleSwitch). It shows nothing of any tenant to anyone
// else.
func (s *Server) handleHomeShow(w http.ResponseWriter, r *http.Request) error {
	p := &homePage{page: page{Title: "Simple shared to-do lists"}, BaseDomain: s.cfg.BaseDomain}
	if u := userFrom(r.Context()); u != nil && !u.ViaToken {
		list, err := s.accounts.ListWorkspaces(r.Context(), u.ID)
		if err != nil {
			return err
		}
		for _, ws := range list {
			if ws.Status == tenancy.StatusActive && ws.PrimaryDomain != "" {
				p.All = append(p.All, menuWorkspace{ID: ws.TenantID, Name: ws.DisplayName, Role: ws.Role})
			}
		}
		// The menu is the list's first menuMax (there is no current workspace here): render
		// need not ask the database again.
		p.Workspaces = p.All[:min(menuMax, len(p.All))]
		p.WorkspacesMore = len(p.All) - len(p.Workspaces)
	}
	return s.render(w, r, http.StatusOK, "home.html", p)
}

// signupPage is the sign-up form.
type signupPage struct {
	page
	DisplayName string
	Subdomain   string
	Email       string
	BaseDomain  string
	Errors      map[string]string // field -> message
}

// handleSignupShow shows the sign-up form.
func (s *Server) handleSignupShow(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "signup.html", &signupPage{page: page{Title: "Create a workspace"}, BaseDomain: s.cfg.BaseDomain})
}

// signupSent is the one answer of an anonymous sign-up that passed the form's checks, whether
// or not the address has an account: which it was is told only to the address, by mail.
const signupSent = "We have sent a link to the address you gave. Open it within 48 hours to confirm the address and enter your workspace."

// handleSignupSubmit creates a workspace.
//
// A signed-in visitor gets one at once: in ONE transaction (tenancy.Create) the tenant, its
// schema and domain, their owner membership and a one-time login token; then the browser goes
// to the new host, where the token signs them in.
//
// An anonymous visitor gets the same answer whether the address has an account or not ("check
// your e-mail"), and no password is ever checked here (the login's limits guard passwords). For
// a new address the same transaction also creates the user, unverified, and queues the
// verification mail, whose link (on the new host) proves the address and signs them in; until
// then the account cannot sign in. For an address that has an account nothing is created: its
// owner gets a mail saying that someone tried, and how to sign in (signed in, they can create
// workspaces here).
func (s *Server) handleSignupSubmit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.limitClient(ctx, "signup"); err != nil {
		return err
	}
	signedIn := userFrom(ctx)
	p := &signupPage{
		page:        page{Title: "Create a workspace"},
		DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
		Subdomain:   strings.TrimSpace(r.PostFormValue("subdomain")),
		Email:       strings.TrimSpace(r.PostFormValue("email")),
		BaseDomain:  s.cfg.BaseDomain,
		Errors:      map[string]string{},
	}
	password := r.PostFormValue("password")
	fieldErr := func(field string, err error) {
		if _, seen := p.Errors[field]; !seen {
			p.Errors[field] = toodoo.ErrorMessage(err)
		}
	}
	if err := tenancy.ValidateDisplayName(p.DisplayName); err != nil {
		fieldErr("display_name", err)
	}
	sub, name, err := validateSubdomain(p.Subdomain)
	if err != nil {
		fieldErr("subdomain", err)
	} else {
		p.Subdomain = sub
		// A taken address is reported with the other errors, not after they are fixed. (The
		// answer is the same whoever asks: addresses in use are public.)
		switch taken, err := s.subdomainTaken(ctx, name, sub+"."+s.cfg.BaseDomain); {
		case err != nil:
			return err
		case taken:
			fieldErr("subdomain", errTaken(sub))
		}
	}
	var email string
	if signedIn == nil {
		if email, err = account.NormalizeEmail(p.Email); err != nil {
			fieldErr("email", err)
		}
		if err := account.ValidatePassword(password); err != nil {
			fieldErr("password", err)
		}
	}
	if len(p.Errors) > 0 {
		return s.render(w, r, http.StatusBadRequest, "signup.html", p)
	}
	host := sub + "." + s.cfg.BaseDomain
	taken := func() error {
		fieldErr("subdomain", errTaken(sub))
		return s.render(w, r, http.StatusBadRequest, "signup.html", p)
	}
	sent := func() error {
		return s.render(w, r, http.StatusOK, "check_email.html", &checkEmailPage{page: page{Title: "Check your e-mail"}, Message: signupSent})
	}

	if signedIn == nil {
		existing, err := s.accounts.GetUserByEmail(ctx, email)
		switch toodoo.ErrorCode(err) {
		case toodoo.ENOTFOUND:
		case "":
			return s.signupExisting(w, r, existing, password, name, host, taken, sent)
		default:
			return err
		}
	}

	var token string
	var userErr error
	created, err := s.db.Create(ctx, s.def, tenancy.CreateParams{
		Name:        name,
		DisplayName: p.DisplayName,
		Domain:      host,
		Then: func(ctx context.Context, tx *tenancy.Tx, t tenancy.Tenant) error {
			if signedIn != nil {
				if err := account.AddMemberTx(ctx, tx, t.ID, signedIn.ID, account.RoleOwner); err != nil {
					return err
				}
				var err error
				token, err = account.IssueLoginTokenTx(ctx, tx, signedIn.ID, t.ID, 0)
				return err
			}
			u, verify, err := s.accounts.CreateUnverifiedUserTx(ctx, tx, email, password, t.ID)
			if err != nil {
				userErr = err
				return err
			}
			if err := account.AddMemberTx(ctx, tx, t.ID, u.ID, account.RoleOwner); err != nil {
				return err
			}
			link := s.siteURL(r, host) + "/verify?t=" + url.QueryEscape(verify)
			return tx.Enqueue(ctx, mail.Verify(u.Email, t.DisplayName, link, account.VerifyTokenTTL))
		},
	})
	if err != nil {
		switch code := toodoo.ErrorCode(err); {
		case userErr != nil && code == toodoo.ECONFLICT:
			return sent() // the address got an account meanwhile: the same answer, nothing created
		case userErr != nil && code == toodoo.EINVALID:
			fieldErr("email", userErr)
		case code == toodoo.ECONFLICT:
			return taken()
		case code == toodoo.EINVALID:
			fieldErr("subdomain", err)
		default:
			return err
		}
		return s.render(w, r, http.StatusBadRequest, "signup.html", p)
	}
	s.logger.InfoContext(ctx, "workspace created by sign-up", "tenant", name, "verified", signedIn != nil, "request_id", info(ctx).ID)
	// The browser comes back on the new host (at once, or from the mail): learn it now rather
	// than wait for the notification (other processes look a missing host up in the database;
	// see hostCache).
	s.hosts.refresh(ctx, strconv.FormatInt(created.ID, 10))
	s.tenantCreated()
	if signedIn == nil {
		return sent()
	}
	s.redirect(w, r, s.siteURL(r, host)+"/login/token?t="+url.QueryEscape(token))
	return nil
}

// errTaken is the refusal of an address in use.
func errTaken(sub string) error {
	return toodoo.Invalid("subdomain", "The address %q is taken. Please choose another.", sub)
}

// subdomainTaken reports whether a workspace has the tenant name or the host already.
func (s *Server) subdomainTaken(ctx context.Context, name, host string) (bool, error) {
	if _, err := s.db.Get(ctx, name); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		return err == nil, err
	}
	if _, err := s.db.ResolveHost(ctx, host); toodoo.ErrorCode(err) != toodoo.ENOTFOUND {
		return err == nil, err
	}
	return false, nil
}

// signupExisting answers an anonymous sign-up with an address that has an account: the same as
// for a new address, after the same checks (a taken subdomain is refused alike) and about the
// same work (the password is hashed as a new account's would be, and thrown away; it is never
// compared), and the address's owner gets a mail.
func (s *Server) signupExisting(w http.ResponseWriter, r *http.Request, u account.User, password, name, host string, taken, sent func() error) error {
	ctx := r.Context()
	switch taken2, err := s.subdomainTaken(ctx, name, host); {
	case err != nil:
		return err
	case taken2:
		return taken()
	}
	if _, err := s.accounts.Params.Hash(password); err != nil {
		return err
	}
	link := s.siteURL(r, tenancy.NormalizeHost(r.Host)) + "/login"
	err := s.db.SharedTx(ctx, func(ctx context.Context, tx *tenancy.Tx) error {
		return tx.Enqueue(ctx, mail.SignupExisting(u.Email, link))
	})
	if err != nil {
		return err
	}
	return sent()
}
