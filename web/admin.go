package web

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/toodoo/toodoo"
	"github.com/toodoo/toodoo/migrate"
	"github.com/toodoo/toodoo/tenancy"
)

// adminPageSize is how many tenants one admin page lists.
const adminPageSize = 50

// adminPage is the platform admin: a summary of the fleet, then one page of tenants, searched and
// filtered in the database (a fleet of thousands costs one page of rows), each row one line with
// its actions in a menu. "New tenant" is at the top, and its errors with it.
type adminPage struct {
	page
	// The filter, from the query string.
	Query, Status, State string
	PageNo               int
	// This page of tenants, and how many match in all.
	Tenants    []adminTenant
	Total      int64
	From, To   int64
	PrevURL    string
	NextURL    string
	Back       string // this page's address, where an action comes back to
	Summary    fleetSummary
	Recent     []tenancy.LedgerEvent
	Failures   []tenancy.LedgerEvent
	TenantHash string
	BaseDomain string
	// The create form, kept when refused.
	Name, DisplayName, Domain string
	Errors                    map[string]string
}

type adminTenant struct {
	tenancy.AdminTenant
	SchemaState string // migrate.StateCurrent, StateBehind or StateFailed
	URL         string
}

// fleetSummary counts the fleet by status and by schema state, each with its bar.
type fleetSummary struct {
	Tenants  int64
	ByStatus []fleetPart
	ByState  []fleetPart
}

// fleetPart is one segment of a summary bar: its count, where it starts and how wide it is (in
// percent of the bar, as SVG attributes: the Content-Security-Policy allows no inline styles).
type fleetPart struct {
	Key, Label string
	Count      int64
	X, Width   float64
	URL        string // the tenant list filtered to this part
}

// adminStates and adminStatuses are the filter's values, in the summary's order.
var (
	adminStates   = []string{migrate.StateCurrent, migrate.StateBehind, migrate.StateFailed}
	adminStatuses = []string{tenancy.StatusActive, tenancy.StatusSuspended}
)

// adminURL is the admin page's address with the filter (empty values left out) and page.
func adminURL(query, status, state string, pageNo int) string {
	v := url.Values{}
	if query != "" {
		v.Set("q", query)
	}
	if status != "" {
		v.Set("status", status)
	}
	if state != "" {
		v.Set("state", state)
	}
	if pageNo > 1 {
		v.Set("page", strconv.Itoa(pageNo))
	}
	if len(v) == 0 {
		return "/admin"
	}
	return "/admin?" + v.Encode()
}

// readFilter reads the filter from the query string; unknown values are ignored.
func (p *adminPage) readFilter(r *http.Request) {
	q := r.URL.Query()
	p.Query = strings.TrimSpace(q.Get("q"))
	if len(p.Query) > 200 {
		p.Query = p.Query[:200]
	}
	if st := q.Get("status"); slices.Contains(adminStatuses, st) {
		p.Status = st
	}
	if st := q.Get("state"); slices.Contains(adminStates, st) {
		p.State = st
	}
	p.PageNo = 1
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 && n <= 1_000_000 {
		p.PageNo = n
	}
}

func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, status int, p *adminPage) error {
	ctx := r.Context()
	hash := s.def.TenantHash()
	p.readFilter(r)
	tenants, total, err := s.db.AdminTenants(ctx, tenancy.AdminFilter{
		Query: p.Query, Status: p.Status, State: p.State, Desired: hash,
		Limit: adminPageSize, Offset: (p.PageNo - 1) * adminPageSize,
	})
	if err != nil {
		return err
	}
	for _, t := range tenants {
		at := adminTenant{AdminTenant: t, SchemaState: migrate.SchemaState(t.AppliedHash, t.LastError, hash)}
		if t.PrimaryDomain != "" {
			at.URL = s.siteURL(r, t.PrimaryDomain) + "/"
		}
		p.Tenants = append(p.Tenants, at)
	}
	p.Total = total
	if len(tenants) > 0 {
		p.From = int64((p.PageNo-1)*adminPageSize) + 1
		p.To = p.From + int64(len(tenants)) - 1
	}
	if p.PageNo > 1 {
		p.PrevURL = adminURL(p.Query, p.Status, p.State, p.PageNo-1)
	}
	if p.To > 0 && p.To < total {
		p.NextURL = adminURL(p.Query, p.Status, p.State, p.PageNo+1)
	}
	p.Back = adminURL(p.Query, p.Status, p.State, p.PageNo)

	groups, err := s.db.FleetGroups(ctx)
	if err != nil {
		return err
	}
	p.Summary = summarize(groups, hash)
	if p.Recent, p.Failures, err = s.db.RecentLedger(ctx, 3); err != nil {
		return err
	}
	p.Title = "Platform admin"
	p.TenantHash = hash
	p.BaseDomain = s.cfg.BaseDomain
	return s.render(w, r, status, "admin.html", p)
}

// summarize counts the fleet's groups by status and by schema state, judged by
// migrate.SchemaState: the ledger's word, the same rule the migrator and the tenant list use.
func summarize(groups []tenancy.FleetGroup, desired string) fleetSummary {
	var sum fleetSummary
	byStatus := map[string]int64{}
	byState := map[string]int64{}
	for _, g := range groups {
		sum.Tenants += g.Tenants
		byStatus[g.Status] += g.Tenants
		lastError := ""
		if g.Failed {
			lastError = "failed"
		}
		byState[migrate.SchemaState(g.AppliedHash, lastError, desired)] += g.Tenants
	}
	parts := func(keys []string, counts map[string]int64, url func(string) string) []fleetPart {
		var out []fleetPart
		var x float64
		for _, k := range keys {
			fp := fleetPart{Key: k, Label: k, Count: counts[k], X: x, URL: url(k)}
			if sum.Tenants > 0 {
				fp.Width = math.Round(float64(fp.Count)*10000/float64(sum.Tenants)) / 100
			}
			x += fp.Width
			out = append(out, fp)
		}
		return out
	}
	sum.ByStatus = parts(adminStatuses, byStatus, func(k string) string { return adminURL("", k, "", 1) })
	sum.ByState = parts(adminStates, byState, func(k string) string { return adminURL("", "", k, 1) })
	return sum
}

// handleAdminShow shows the fleet's summary and one page of tenants (see adminPage).
func (s *Server) handleAdminShow(w http.ResponseWriter, r *http.Request) error {
	return s.renderAdmin(w, r, http.StatusOK, &adminPage{})
}

// adminBack is where an admin action returns: the page it was taken on (the form's "back"), or
// the admin's first page.
func adminBack(r *http.Request) string {
	back := safeNext(r.PostFormValue("back"))
	if back != "/admin" && !strings.HasPrefix(back, "/admin?") {
		return "/admin"
	}
	return back
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
	s.redirect(w, r, adminURL(t.Schema, "", "", 1))
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
	s.redirect(w, r, adminBack(r))
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
		s.redirect(w, r, adminBack(r))
		return nil
	}
	if err := s.db.Delete(ctx, name, false); err != nil {
		return err
	}
	s.logger.InfoContext(ctx, "tenant deleted by admin", "tenant", name, "by", userFrom(ctx).ID)
	flash(r, "ok", "Tenant "+name+" deleted (its data is kept).")
	s.redirect(w, r, adminBack(r))
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
