package runner

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/journal"
)

// The journal side of a job's life: the intent before its submit, the id
// after, the end once known. A journal that cannot be written never stops
// a job; the notice says what is lost.

// journalEntry is what the journal keeps of j before its submit.
func (r *Runner) journalEntry(j *Job) journal.Entry {
	request := make(map[string]any, len(j.Body))
	for k, v := range j.Body {
		if k != "webhook" { // its token is a secret, and useless once we exit
			request[k] = v
		}
	}
	return journal.Entry{
		TrackID: j.TrackID, Endpoint: j.Endpoint.Name, Kind: j.Endpoint.Kind,
		BaseURL: r.journalBase(), PathParams: j.PathParams, Request: request, BatchID: r.o.BatchID, Line: j.Line,
		Tunnel: r.tunnelMode(), RelayToken: j.relayToken, RelayURL: r.relayURL(j),
	}
}

// journalBase is the API base journalled with each job.
func (r *Runner) journalBase() string {
	if r.o.Sandbox {
		return SandboxBase(r.o.BaseURL)
	}
	return r.o.BaseURL
}

// intent writes j down before its submit leaves and returns the intent's
// time (zero when nothing was written). A job that Resubmit names is
// dropped once the new intent is safe.
func (r *Runner) intent(j *Job, obs Observer) time.Time {
	if r.o.Journal == nil {
		return time.Time{}
	}
	at, err := r.o.Journal.AddIntent(r.journalEntry(j))
	if err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not write job %s to the journal before its submit: %v", j.TrackID, err)})
		return time.Time{}
	}
	if old := j.Resubmit; old != nil {
		if err := r.o.Journal.Forget(old.TrackID, old.SubmittedAt); err != nil && !errors.Is(err, journal.ErrNotFound) {
			obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not drop the unknown submit of %s from the journal: %v", old.TrackID, err)})
		}
		j.Resubmit = nil
	}
	return at
}

// submitted completes j's intent (at) with the id its submit got; with no
// intent it adds the whole entry.
func (r *Runner) submitted(j *Job, at time.Time, resp *api.Response, obs Observer) {
	if r.o.Journal == nil || resp.ID == "" {
		r.forget(j, at, obs) // nothing to follow: an immediate answer without an id
		return
	}
	err := journal.ErrNotFound
	if !at.IsZero() {
		err = r.o.Journal.Submitted(j.TrackID, at, resp.ID, resp.FetchURL, nil)
	}
	if errors.Is(err, journal.ErrNotFound) {
		e := r.journalEntry(j)
		e.ID, e.FetchURL, e.SubmittedAt, e.Status = resp.ID, resp.FetchURL, at, journal.StatusProcessing
		err = r.o.Journal.Add(e)
	}
	if err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not write job %s to the journal: %v", resp.ID, err)})
	}
}

// forget drops j's intent (at): its submit certainly made no job.
func (r *Runner) forget(j *Job, at time.Time, obs Observer) {
	if r.o.Journal == nil || at.IsZero() {
		return
	}
	if err := r.o.Journal.Forget(j.TrackID, at); err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not update job %s in the journal: %v", j.TrackID, err)})
	}
}

// recordEnd writes how the job ended; a job still running stays
// processing so that mlab wait can finish it. A job the journal already
// knows finished keeps its first end (when, and how it arrived) and its
// files, unless new ones were downloaded: a fetch or a second wait adds to
// the record, never erases it.
func (r *Runner) recordEnd(j *Job, o *Outcome, obs Observer) {
	if r.o.Journal == nil || !o.Status.Finished() {
		return
	}
	now := r.o.Now()
	err := r.o.Journal.Update(cmp.Or(j.TrackID, o.ID), func(e *journal.Entry) {
		was := e.Finished()
		e.Status = string(o.Status)
		if len(o.Output) > 0 || !was {
			e.Output = o.Output
		}
		if o.Message != "" || !was {
			e.Message = o.Message
		}
		if anyFile(o.Files) || !was {
			e.Files = o.Files
		}
		if e.Via == "" || !was {
			e.Via = string(o.Via)
		}
		if e.FinishedAt.IsZero() || !was {
			e.FinishedAt = now
		}
	})
	if errors.Is(err, journal.ErrNotFound) && (j.Entry != nil && j.Entry.SubmittedAt.IsZero()) {
		return // a job described by flags, never journalled
	}
	if err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not update job %s in the journal: %v", o.ID, err)})
	}
}

func anyFile(files []string) bool {
	for _, f := range files {
		if f != "" {
			return true
		}
	}
	return false
}
