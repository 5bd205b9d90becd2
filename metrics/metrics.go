// Package metrics is Toodoo's adapter to Prometheus: the process's registry, the collector that
// reads the pool and the database at scrape time (fleet.go), and the listener that serves them on
// an address of their own, never on the public one.
//
// Instruments live next to what they measure: web counts requests, host look-ups and refusals
// (web/metrics.go) on the Registerer it is given; this package counts what no request sees (the
// mail queue's attempts, the pool, the tenants, the ledger, the migrator's runs, the queue).
//
// No metric has a tenant label: with ten thousand tenants every labelled family would become
// ten thousand series. Which tenant is the noisiest is answered by the request log's tenant field
// and by the server's top-N (web.Server.TenantLoadHandler), served next to /metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/toodoo/toodoo/mail"
	"github.com/toodoo/toodoo/schemadef"
	"github.com/toodoo/toodoo/tenancy"
)

// Metrics is one process's metrics: the Go runtime and the process, the fleet read at scrape
// time, the mail queue's attempts, and whatever web registers on Registerer.
type Metrics struct {
	reg          *prometheus.Registry
	mailAttempts *prometheus.CounterVec
}

// New builds the registry of a server process on db, judging the ledger against def (the
// schema.hcl this binary was built for). It touches nothing until scraped.
func New(db *tenancy.DB, def *schemadef.Definition) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		mailAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "toodoo_mail_attempts_total",
			Help: "Attempts to send a queued mail by this process, by result: sent, retry (failed, River tries again later) or refused (the server refused it for good).",
		}, []string{"result"}),
	}
	for _, r := range []string{mail.ResultSent, mail.ResultRetry, mail.ResultRefused} {
		m.mailAttempts.WithLabelValues(r) // every result has a series from the start
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.mailAttempts,
		NewFleet(db, def, FleetOptions{}),
	)
	return m
}

// Registerer is where web registers its instruments.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer reads every metric, for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// MailAttempt counts one attempt of the mail runner (mail.Config.AttemptFunc).
func (m *Metrics) MailAttempt(result string) { m.mailAttempts.WithLabelValues(result).Inc() }

// Handler serves the metrics in Prometheus's text format (or OpenMetrics when asked). A scrape
// that errs (the database unreadable) still gets every metric that could be read.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4, // scrapes beyond that get 503: the fleet's cache (fleet.go) is shared anyway
		Timeout:             10 * time.Second,
	})
}

// Serve serves h on ln, the metrics' own address, until ctx is done, then shuts down (scrapes
// in flight get a second). Give it a context that ends after the web server's drain, so that
// the drain itself can be watched.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("metrics listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	_ = hs.Close()
	return nil
}
