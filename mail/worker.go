package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/toodoo/toodoo/tenancy"
)

// Config is what the Runner needs.
type Config struct {
	// DatabaseURL is where River works (fetches, completes, retries, cleans up): short
	// transactions, fine through PgBouncer in transaction mode.
	DatabaseURL string
	// ListenURL leads straight to PostgreSQL, bypassing any transaction-mode pooler: River
	// LISTENs there to hear of new jobs at once. Empty: poll only (River looks for jobs every
	// PollInterval), for deployments whose only way to the database is the pooler.
	ListenURL string
	// PollInterval is how often River looks for jobs without a notification (default 1s).
	PollInterval time.Duration
	// Sender delivers the mail.
	Sender Sender
	// Workers is how many mails are sent at once (default 4).
	Workers int
	Logger  *slog.Logger
	// AttemptFunc, if set, is told the result of every attempt to send: ResultSent,
	// ResultRetry or ResultRefused (the process's metrics count them).
	AttemptFunc func(result string)
}

// Results of an attempt to send, as Config.AttemptFunc is told them.
const (
	ResultSent    = "sent"    // delivered to the SMTP server
	ResultRetry   = "retry"   // failed; River tries again later, until MaxAttempts
	ResultRefused = "refused" // refused for good (5xx): the job is cancelled
)

// Runner sends the queued mail until it is stopped.
type Runner struct {
	client *river.Client[pgx.Tx]
	pools  []*pgxpool.Pool
	logger *slog.Logger
}

// CompletedRetention is how long a sent mail's job stays in the queue: its arguments hold the
// links in clear, so it goes soon. Failed (discarded) mail stays River's default, 7 days, for
// the operator.
const CompletedRetention = time.Hour

// NewRunner opens River's pools and builds its client; Run starts it.
func NewRunner(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Sender == nil {
		return nil, errors.New("mail: no sender")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	r := &Runner{logger: cfg.Logger}
	pool, err := openPool(ctx, cfg.DatabaseURL, int32(cfg.Workers)+2)
	if err != nil {
		return nil, err
	}
	r.pools = append(r.pools, pool)
	var driver riverdriver.Driver[pgx.Tx] = riverpgxv5.New(pool)
	if cfg.ListenURL != "" {
		lp, err := openPool(ctx, cfg.ListenURL, 1)
		if err != nil {
			r.close()
			return nil, err
		}
		r.pools = append(r.pools, lp)
		driver = listenOn{Driver: riverpgxv5.New(pool), listen: riverpgxv5.New(lp)}
	}
	workers := river.NewWorkers()
	attempt := cfg.AttemptFunc
	if attempt == nil {
		attempt = func(string) {}
	}
	if err := river.AddWorkerSafely(workers, &worker{sender: cfg.Sender, logger: cfg.Logger, attempt: attempt}); err != nil {
		r.close()
		return nil, fmt.Errorf("mail: %w", err)
	}
	r.client, err = river.NewClient(driver, &river.Config{
		Schema:                      tenancy.QueueSchema,
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:                     workers,
		PollOnly:                    cfg.ListenURL == "",
		FetchPollInterval:           cfg.PollInterval,
		CompletedJobRetentionPeriod: CompletedRetention,
		Logger:                      cfg.Logger,
	})
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mail: queue client: %w", err)
	}
	return r, nil
}

// listenOn is River's pgx driver that LISTENs on a connection of its own (the direct URL)
// while the rest of its work goes through the main pool.
type listenOn struct {
	*riverpgxv5.Driver
	listen *riverpgxv5.Driver
}

func (d listenOn) GetListener(p *riverdriver.GetListenenerParams) riverdriver.Listener {
	return d.listen.GetListener(p)
}

// openPool opens a small pool whose connections have an empty search_path, like tenancy's:
// River names its schema in every statement.
func openPool(ctx context.Context, url string, max int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("mail: parse database URL: %w", err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["search_path"]; !set {
		cfg.ConnConfig.RuntimeParams["search_path"] = ""
	}
	cfg.MaxConns = max
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("mail: connect: %w", err)
	}
	return pool, nil
}

// Run works the queue until ctx is done, then stops: it lets the mails being sent finish (up
// to stopTimeout), and returns once River has stopped and its pools are closed.
func (r *Runner) Run(ctx context.Context) error {
	defer r.close()
	// River's own context is never cancelled: stopping is Stop's work, below, so that a stop
	// that comes while River is still starting waits for the start instead of failing it.
	if err := r.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("mail: start queue: %w", err)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := r.client.Stop(stopCtx); err != nil {
		_ = r.client.StopAndCancel(context.WithoutCancel(ctx))
		return fmt.Errorf("mail: stop queue: %w", err)
	}
	return nil
}

// stopTimeout bounds how long Run waits for mails being sent when it stops; an interrupted
// send is retried later (by this or another process).
const stopTimeout = 10 * time.Second

func (r *Runner) close() {
	for _, p := range r.pools {
		p.Close()
	}
}

// worker sends one queued Message.
type worker struct {
	river.WorkerDefaults[Message]
	sender  Sender
	logger  *slog.Logger
	attempt func(result string)
}

func (w *worker) Work(ctx context.Context, job *river.Job[Message]) error {
	err := w.sender.Send(ctx, job.Args)
	switch {
	case err == nil:
		w.attempt(ResultSent)
		w.logger.InfoContext(ctx, "mail sent", "job", job.ID, "subject", job.Args.Subject)
		return nil
	case Permanent(err):
		w.attempt(ResultRefused)
		w.logger.WarnContext(ctx, "mail refused for good", "job", job.ID, "error", err)
		return river.JobCancel(err)
	default:
		w.attempt(ResultRetry)
		w.logger.WarnContext(ctx, "mail not sent; River retries it", "job", job.ID, "attempt", job.Attempt, "error", err)
		return err
	}
}

// Timeout bounds one attempt.
func (w *worker) Timeout(*river.Job[Message]) time.Duration { return time.Minute }

// Entry is a queued, sent or failed mail, as `toodoo mail list` shows it.
type Entry struct {
	ID          int64      `json:"id"`
	State       string     `json:"state"` // River's: available, running, retryable, completed, discarded, cancelled...
	To          string     `json:"to"`
	Subject     string     `json:"subject"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	FinalizedAt *time.Time `json:"finalized_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

// Failed reports whether the mail will not be sent any more (discarded after its attempts,
// or cancelled as undeliverable).
func (e Entry) Failed() bool {
	return e.State == string(rivertype.JobStateDiscarded) || e.State == string(rivertype.JobStateCancelled)
}

// List returns up to limit mails, newest first; failedOnly keeps those that will not be sent.
// (The job arguments, links included, are not returned: Entry has no body.)
func List(ctx context.Context, databaseURL string, failedOnly bool, limit int) ([]Entry, error) {
	pool, err := openPool(ctx, databaseURL, 2)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: tenancy.QueueSchema})
	if err != nil {
		return nil, fmt.Errorf("mail: queue client: %w", err)
	}
	params := river.NewJobListParams().Kinds(Kind).First(limit).OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	if failedOnly {
		params = params.States(rivertype.JobStateDiscarded, rivertype.JobStateCancelled)
	}
	res, err := c.JobList(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("mail: list: %w", err)
	}
	out := make([]Entry, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		var m Message
		_ = jsonUnmarshal(j.EncodedArgs, &m)
		e := Entry{ID: j.ID, State: string(j.State), To: m.To, Subject: m.Subject, Attempt: j.Attempt,
			MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt, FinalizedAt: j.FinalizedAt}
		if n := len(j.Errors); n > 0 {
			e.LastError = strings.TrimPrefix(j.Errors[n-1].Error, "JobCancelError: ") // River's wrapper of a refusal for good
		}
		out = append(out, e)
	}
	return out, nil
}
