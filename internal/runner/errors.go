package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/mlabcli/mlab/internal/job"
)

// FailedError is a job the API reported failed (exit 1).
type FailedError = job.FailedError

// ErrTimeout ends a wait that ran out of time (exit 3).
var ErrTimeout = job.ErrTimeout

// ErrNoAnswer is the cause of a [SubmitUnknownError] read back from the
// journal: a submit that was sent and never answered (mlab was stopped or
// killed meanwhile).
var ErrNoAnswer = errors.New("its submit was sent but never answered")

// DownloadError is a failed download of a finished job's outputs (exit 4).
// The job succeeded at the API and is journalled so; ID and Dir say what
// to download again (mlab wait ID -o Dir).
type DownloadError struct {
	ID  string
	Dir string
	Err error
}

func (e *DownloadError) Error() string { return "download outputs: " + e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }

// StoppedError reports a wait, or a download, that ended before the job's
// end was in hand (timeout or interrupt); the job goes on at ModelsLab.
type StoppedError struct {
	ID  string
	Err error // ErrTimeout or context.Canceled
	// Downloading says the job had succeeded and its download was cut
	// short; Dir is where its files go.
	Downloading bool
	Dir         string
}

func (e *StoppedError) Error() string {
	what := "waiting for job " + e.ID + "; it may still finish"
	if e.Downloading {
		what = "downloading the outputs of job " + e.ID + "; it succeeded"
	}
	if errors.Is(e.Err, ErrTimeout) {
		return "timed out " + what
	}
	return "interrupted while " + what
}
func (e *StoppedError) Unwrap() error { return e.Err }

// SubmitUnknownError is a submit that may have reached the API, but whose
// job id is not known: no answer came in time, the connection broke after
// the request left, the server failed (5xx), or it answered without an id.
// The job may exist and be paid for, so it must not be submitted again
// blindly; with Journaled, its intent is in the journal under TrackID.
type SubmitUnknownError struct {
	Endpoint  string
	TrackID   string
	Journaled bool
	Err       error // the API's error, a context error, or ErrNoAnswer
}

func (e *SubmitUnknownError) Error() string {
	var cause string
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		cause = "submit " + e.Endpoint + ": no answer before the deadline"
	case errors.Is(e.Err, context.Canceled):
		cause = "submit " + e.Endpoint + ": interrupted before the answer came"
	case errors.Is(e.Err, ErrNoAnswer):
		return fmt.Sprintf("job with track_id %s is unknown: %v; it may have been submitted", e.TrackID, e.Err)
	default:
		cause = e.Err.Error()
	}
	return fmt.Sprintf("%s; the job may have been submitted (track_id %s)", cause, e.TrackID)
}
func (e *SubmitUnknownError) Unwrap() error { return e.Err }

// stopCause is what stopped a wait or a download: an interrupt
// (context.Canceled), else the deadline (ErrTimeout).
func stopCause(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return ErrTimeout
}
