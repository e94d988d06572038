package job

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/api"
)

func TestStagePosition(t *testing.T) {
	for stage, want := range map[string][2]int{
		"deploying_gpu": {1, 8}, "deploying_model": {7, 8}, "model_ready": {8, 8},
		"training_failed": {0, 0}, "running": {0, 0}, "": {0, 0},
	} {
		if i, n := StagePosition(stage); i != want[0] || n != want[1] {
			t.Errorf("StagePosition(%q) = %d, %d", stage, i, n)
		}
	}
}

func TestSplitLogs(t *testing.T) {
	got := SplitLogs(" /n Deploying GPU, it will take upto 30 minutes /n Step:1 Training Started /n\n/n Error: CUDA out of memory\nsecond")
	want := []string{"Deploying GPU, it will take upto 30 minutes", "Step:1 Training Started", "Error: CUDA out of memory", "second"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q", got)
	}
	if SplitLogs("") != nil || SplitLogs(" /n /n ") != nil {
		t.Error("blank logs give lines")
	}
}

func TestFailedErrorSplitsLogs(t *testing.T) {
	err := &FailedError{ID: "F5", Response: &api.Response{Status: "failed", Stage: "training_failed",
		Message: "training_failed: /n Deploying GPU /n Error: CUDA out of memory"}}
	want := "job F5 failed: training_failed\n  Deploying GPU\n  Error: CUDA out of memory"
	if got := err.Error(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	plain := &FailedError{ID: "1", Response: &api.Response{Message: "NSFW"}}
	if got := plain.Error(); got != "job 1 failed: NSFW" {
		t.Errorf("got %q", got)
	}
}

// A training's stages come with their place in the order, its new log
// lines once each, and the last stage is reported by the wait itself.
func TestWaitReportsStagePositionAndLogs(t *testing.T) {
	ep, _ := api.Lookup("lora_fine_tune")
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		defer wg.Wait()
		ch := make(chan Event, 8)
		deliverAt(&wg, ch, time.Minute, `{"status":"success","training_status":"deploying_gpu","logs":" /n Deploying GPU","model_id":"F5"}`)
		deliverAt(&wg, ch, 2*time.Minute, `{"status":"success","training_status":"deploying_model","logs":" /n Deploying GPU /n Step:5 Deploying Model","model_id":"F5"}`)
		deliverAt(&wg, ch, 3*time.Minute, `{"status":"success","training_status":"model_ready","logs":" /n Deploying GPU /n Step:5 Deploying Model /n Model loaded successfully","model_id":"F5"}`)
		var stages []string
		var logs []string
		_, err := Wait(context.Background(), Params{
			ID: "F5", Events: ch,
			Decode: func(b []byte) (*api.Response, error) { return api.DecodeFor(ep, b) },
			Fetch: func(ctx context.Context) (*api.Response, error) {
				return api.DecodeFor(ep, []byte(`{"status":"success","messege":"model_ready","data":" /n Deploying GPU /n Step:5 Deploying Model /n Model loaded successfully"}`))
			},
			PollInterval: time.Hour, Grace: time.Hour,
			OnProgress: func(p Progress) {
				if p.Stage != "" && (len(stages) == 0 || !strings.HasPrefix(stages[len(stages)-1], p.Stage+" ")) {
					stages = append(stages, p.Stage+" "+string(rune('0'+p.StageIndex))+"/"+string(rune('0'+p.StageCount)))
				}
				logs = append(logs, p.Log...)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"deploying_gpu 1/8", "deploying_model 7/8", "model_ready 8/8"}; !slices.Equal(stages, want) {
			t.Errorf("stages %q", stages)
		}
		if want := []string{"Deploying GPU", "Step:5 Deploying Model", "Model loaded successfully"}; !slices.Equal(logs, want) {
			t.Errorf("log lines %q", logs)
		}
	})
}

// A failed fetch is retried on the wait's own schedule, and the report
// says when and why.
func TestWaitReportsRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		var retries []Progress
		_, err := Wait(context.Background(), Params{
			ID: "7", ETA: time.Second, PollInterval: time.Second,
			Fetch: func(ctx context.Context) (*api.Response, error) {
				n++
				switch n {
				case 1:
					return nil, &api.Error{Op: "fetch 7", Kind: api.KindRateLimited, HTTPStatus: 429, RetryAfter: 5 * time.Second}
				case 2:
					return nil, &api.Error{Op: "fetch 7", Kind: api.KindNetwork, Err: errors.New("connection refused")}
				}
				return &api.Response{Status: "success", ID: "7", Output: []string{"https://x/1.png"}}, nil
			},
			OnProgress: func(p Progress) {
				if p.Phase == "retrying" {
					retries = append(retries, p)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(retries) != 2 || retries[0].Reason != "rate limited" || retries[0].RetryIn < 5*time.Second || retries[1].Reason != "unreachable" || retries[1].RetryIn <= 0 {
			t.Errorf("retries %+v", retries)
		}
	})
}
