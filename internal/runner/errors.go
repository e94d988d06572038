package runner

import (
	"errors"
	"fmt"

	"github.com/mlabcli/mlab/internal/job"
)

// FailedError is a job the API reported failed (exit 1).
type FailedError = job.FailedError

// ErrTimeout ends a wait that ran out of time (exit 3).
var ErrTimeout = job.ErrTimeout

// DownloadError is a failed download of a finished job's output (exit 4).
type DownloadError struct{ Err error }

func (e *DownloadError) Error() string { return "download outputs: " + e.Err.Error() }
func (e *DownloadError) Unwrap() error { return e.Err }

// StoppedError reports a wait that ended before the job did (timeout or
// interrupt); the job goes on running at ModelsLab.
type StoppedError struct {
	ID  string
	Err error // ErrTimeout or context.Canceled
}

func (e *StoppedError) Error() string {
	if errors.Is(e.Err, ErrTimeout) {
		return fmt.Sprintf("timed out waiting for job %s; it may still finish", e.ID)
	}
	return fmt.Sprintf("interrupted while waiting for job %s; it may still finish", e.ID)
}
func (e *StoppedError) Unwrap() error { return e.Err }
