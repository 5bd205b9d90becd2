package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/tenancy"
)

// adminPage is the platform admin: every tenant with its state.
type adminPage struct {
	page
	Tenants    []adminTenant
	TenantHash string
	BaseDomain string
	// The create form, kept when refused.
	Name, DisplayName, Domain string
	Errors                    map[string]string
}

type adminTenant struct {
	tenancy.Summary
	SchemaState string // migrate.StateCurrent, StateBehind or StateFailed
	URL         string
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, status int, p *adminPage) error {
	tenants, err := s.db.List(r.Context(), false)
	if err != nil {
		return err
	}
	hash := s.def.TenantHash()
	for _, t := range tenants {
		at := adminTenant{Summary: t}
		at.SchemaState = migrate.SchemaState(t.AppliedHash, t.LastError, hash)
		if t.PrimaryDomain != "" {
			at.URL = s.siteURL(r, t.PrimaryDomain) + "/"
		}
		p.Tenants = append(p.Tenants, at)
	}
	p.Title = "Platform admin"
	p.TenantHash = hash
	p.BaseDomain = s.cfg.BaseDomain
	return s.render(w, r, status, "admin.html", p)
}

// handleAdminShow lists the tenants with status, domains, member count and schema state.
func (s *Server) handleAdminShow(w http.ResponseWriter, r *http.Request) error {
	return s.renderAdmin(w, r, http.StatusOK, &adminPage{})
}

// handleAdminTenantCreate creates a tenant (without members: add them with `toodoo member add`
// or sign in as a superuser and use its members page).
func (s *Server) handleAdminTenantCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := &adminPage{
		Name:        strings.TrimSpace(r.PostFormValue("name")),
		DisplayName: strings.TrimSpace(r.PostFormValue("display_name")),
		Domain:      strings.TrimSpace(r.PostFormValue("domain")),
		Errors:      map[string]string{},
	}
	domain := p.Domain
	if domain == "" && p.Name != "" {
		domain = strings.ReplaceAll(p.Name, "_", "-") + "." + s.cfg.BaseDomain
	}
	t, err := s.db.Create(ctx, s.def, tenancy.CreateParams{Name: p.Name, DisplayName: p.DisplayName, Domain: domain})
	if err != nil {
		var te *toodoo.Error
		if code := toodoo.ErrorCode(err); code == toodoo.EINVALID || code == toodoo.ECONFLICT {
			field := "name"
			if errors.As(err, &te) && te.Field != "" {
				field = te.Field
			}
			p.Errors[field] = toodoo.ErrorMessage(err)
			return s.renderAdmin(w, r, http.StatusBadRequest, p)
		}
		return err
	}
	s.logger.InfoContext(ctx, "tenant created by admin", "tenant", t.Schema, "by", userFrom(ctx).ID)
	s.tenantCreated()
	flash(r, "ok", "Tenant "+t.Schema+" created.")
	s.redirect(w, r, "/admin")
	return nil
}

func (s *Server) adminSetStatus(w http.ResponseWriter, r *http.Request, status, done string) error {
	ctx := r.Context()
	name := mux.Vars(r)["name"]
	if _, err := s.db.SetStatus(ctx, name, status); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "tenant status changed by admin", "tenant", name, "status", status, "by", userFrom(ctx).ID)
	flash(r, "ok", "Tenant "+name+" "+done+".")
	s.redirect(w, r, "/admin")
	return nil
}

// handleAdminTenantSuspend suspends a tenant: its site answers 403 until resumed.
func (s *Server) handleAdminTenantSuspend(w http.ResponseWriter, r *http.Request) error {
	return s.adminSetStatus(w, r, tenancy.StatusSuspended, "suspended")
}

// handleAdminTenantResume makes a suspended tenant active again.
func (s *Server) handleAdminTenantResume(w http.ResponseWriter, r *http.Request) error {
	return s.adminSetStatus(w, r, tenancy.StatusActive, "resumed")
}

// handleAdminTenantDelete deletes a tenant softly: it is marked deleted and its domains are
// released, but its schema and data stay (dropping them is `toodoo tenant delete --drop`, an
// operator's decision that a web form should not make).
func (s *Server) handleAdminTenantDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := mux.Vars(r)["name"]
	if r.PostFormValue("confirm") != name {
		flash(r, "error", "To delete "+name+", type its name in the confirmation field.")
		s.redirect(w, r, "/admin")
		return nil
	}
	if err := s.db.Delete(ctx, name, false); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "tenant deleted by admin", "tenant", name, "by", userFrom(ctx).ID)
	flash(r, "ok", "Tenant "+name+" deleted (its data is kept).")
	s.redirect(w, r, "/admin")
	return nil
}

// maxExports is how many tenant exports one server process streams at once. Each holds a
// pool connection (and an open snapshot) for as long as its client takes to download, so an
// unbounded number would take the connections that requests need.
const maxExports = 2

// errExportsBusy answers an export beyond maxExports: 503 with Retry-After.
var errExportsBusy = toodoo.Errorf(toodoo.EUNAVAILABLE, "Two exports are being downloaded already; try again when one is done.")

// handleAdminTenantExport streams the tenant's archive (tenancy.DB.Export, as `toodoo tenant
// export` writes it) as a download. Nothing is buffered: the headers go out with the first
// bytes, so a refusal before them (an unknown tenant) is an ordinary error page, and a failure
// after them cuts the connection, leaving the client a file that import refuses (it lacks
// its trailer) rather than one that looks whole.
func (s *Server) handleAdminTenantExport(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := mux.Vars(r)["name"]
	select {
	case s.exports <- struct{}{}:
		defer func() { <-s.exports }()
	default:
		return errExportsBusy
	}
	// A large tenant takes longer than the server's write timeout; the client's pace decides.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	d := &download{w: w, filename: fmt.Sprintf("%s-%s.toodoo", name, time.Now().UTC().Format("20060102T150405Z"))}
	sum, err := s.db.Export(ctx, name, d)
	if err != nil {
		if !d.started {
			return err
		}
		s.logger.ErrorContext(ctx, "tenant export failed mid-stream", "tenant", name, "error", err)
		panic(http.ErrAbortHandler)
	}
	s.logger.InfoContext(ctx, "tenant exported by admin", "tenant", name, "bytes", d.n, "tables", len(sum.Tables), "by", userFrom(ctx).ID)
	return nil
}

// download is the response writer of a file download: its headers are set on the first write.
type download struct {
	w        http.ResponseWriter
	filename string
	started  bool
	n        int64
}

func (d *download) Write(p []byte) (int, error) {
	if !d.started {
		d.started = true
		h := d.w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.filename}))
		h.Set("Cache-Control", "no-store")
		d.w.WriteHeader(http.StatusOK)
	}
	n, err := d.w.Write(p)
	d.n += int64(n)
	return n, err
}
