package runner_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// The observer hears "downloading" before the download starts, after the
// wait's last phase, so that a display of the wait can end first (one
// live line at a time).
func TestRunSaysDownloadingFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: 3 * time.Second})
		dl, obs := &downloads{}, &recorder{}
		var phasesAtDownload []string
		download := func(ctx context.Context, urls []string, dir string, o runner.DownloadOptions) ([]string, error) {
			obs.mu.Lock()
			phasesAtDownload = slices.Clone(obs.phases)
			obs.mu.Unlock()
			return dl.fn(ctx, urls, dir, o)
		}
		r := runner.New(runner.Options{Client: client, Wait: true, Timeout: time.Minute, OutputDir: t.TempDir(), Download: download})
		if _, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), obs); err != nil {
			t.Fatal(err)
		}
		if len(phasesAtDownload) < 2 || phasesAtDownload[len(phasesAtDownload)-1] != "downloading" {
			t.Fatalf("phases when the download began: %q", phasesAtDownload)
		}
		if n := strings.Count(strings.Join(obs.phases, " "), "downloading"); n != 1 || obs.phases[len(obs.phases)-1] != "downloading" {
			t.Errorf("phases %q", obs.phases)
		}
	})
}

// A submit refused for a full queue, waited out by the runner, is a
// passing status for the observer: reason, wait, and one line of text.
func TestQueueRetryIsANotice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Second, RateLimit: 6, RetryAfter: 2 * time.Second})
		obs := &recorder{}
		r := runner.New(runner.Options{Client: client, Wait: true, Timeout: time.Minute, QueueRetry: true})
		if _, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), obs); err != nil {
			t.Fatal(err)
		}
		var retries []runner.Notice
		for _, n := range obs.notices {
			if n.Retry != "" {
				retries = append(retries, n)
			}
		}
		if len(retries) != 1 || retries[0].Retry != "queue full" || retries[0].Wait != 2*time.Second || retries[0].Text != "queue full, retrying in 2s" {
			t.Errorf("notices %+v", obs.notices)
		}
	})
}
