// Package mail sends Toodoo's e-mail: the messages (messages.go), the SMTP sender configured by
// a URL (smtp.go) and the River worker that sends what the queue holds (worker.go).
//
// A mail is a job in River's queue, in PostgreSQL (tables in tenancy.QueueSchema). Whoever needs
// one inserts it with tenancy.Tx.Enqueue in the same transaction as the row it is about (a
// verification token, a reset token, an invitation), so that it is sent exactly if that row
// exists: never lost when the process dies after the commit, never sent for a rolled-back
// change. The Runner works the queue: it sends each job over SMTP, and River retries a failed
// attempt with its backoff (attempt⁴ seconds plus jitter) up to MaxAttempts times before it
// discards the job, which `toodoo mail list --failed` then shows.
package mail

import (
	"encoding/json"
	"time"

	"github.com/riverqueue/river"
)

// Kind is the River job kind of a mail.
const Kind = "mail"

// MaxAttempts is how often a mail is tried before it is discarded: with River's backoff the
// last try comes about 1.3 hours after the first, long after the links inside have expired
// for a reset (30 minutes) but within a verification's or invitation's lifetime.
const MaxAttempts = 8

// Message is one e-mail to one recipient, rendered when it is queued, and the arguments of its
// job. The sender adds From, Date and Message-ID.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"` // plain text body

	// UniqueFor, when set, makes River drop an identical mail (same recipient, subject and text)
	// queued within that period of another, so that repeating a request cannot flood a mailbox
	// with the same notice.
	UniqueFor time.Duration `json:"-"`
}

// Kind names the job's worker (river.JobArgs).
func (Message) Kind() string { return Kind }

// InsertOpts are the job's defaults (river.JobArgsWithInsertOpts).
func (m Message) InsertOpts() river.InsertOpts {
	opts := river.InsertOpts{MaxAttempts: MaxAttempts}
	if m.UniqueFor > 0 {
		opts.UniqueOpts = river.UniqueOpts{ByArgs: true, ByPeriod: m.UniqueFor}
	}
	return opts
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
