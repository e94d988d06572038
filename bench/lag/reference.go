package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/sandbox"
)

// The reference poller: the wait of the official ModelsLab CLI
// (ModelsLab/modelslab-cli, internal/cmd/generate.go, pollAndDownload),
// rewritten here. After the submit answer it loops: check the timeout,
// sleep, fetch (POST <fetch>/<id> with {"key"}); it sleeps 1 s first, then
// doubles the sleep up to 10 s, so its fetches come 1, 3, 7, 15, 25, 35 …
// s after the submit answer. It stops on "success", fails on "error" or
// "failed", keeps polling on anything else (and on a transport error,
// doubling the sleep all the same), and ignores eta. The official CLI
// submits to /api/v7/images/text-to-image; the bench uses the v6 text2img
// path that mlab img uses, which the sandbox answers the same way.
const (
	refFirstSleep = time.Second
	refMaxSleep   = 10 * time.Second
	refSubmitPath = "/api/v6/images/text2img"
	refFetchPath  = "/api/v6/images/fetch/"
)

// refSide is what the reference poller did.
type refSide struct {
	side
	mu     sync.Mutex
	fetchN map[string]int // fetches per job id
}

func (r *refSide) fetches(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetchN[id]
}

// runReference submits one job per prompt to the sandbox sb at base, one
// at a time in order (so its ids, and with them the jobs' durations and
// etas, match mlab's side), and waits for each in a goroutine of its own
// from its submit answer on, as that many official CLI processes would.
func runReference(ctx context.Context, sb *sandbox.Server, base string, prompts []string) *refSide {
	r := &refSide{side: side{lags: map[string]time.Duration{}}, fetchN: map[string]int{}}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256},
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range prompts {
		ans, err := post(ctx, client, base+refSubmitPath, map[string]any{"key": apiKey, "prompt": p, "model_id": "flux"})
		if err != nil {
			r.fail("submit: %v", err)
			continue
		}
		id := idOf(ans["id"])
		switch status := str(ans["status"]); {
		case id == "":
			r.fail("submit answered no id: %v", ans)
		case status == "error" || status == "failed":
			r.fail("job %s failed on submit: %v", id, ans["message"])
		default:
			wg.Go(func() { r.wait(ctx, client, base, id, sb.DoneAt) })
		}
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.stats = sb.Stats()
	return r
}

// wait is the official CLI's poll loop for job id, its clock started by
// the submit answer; the bench's -timeout (ctx) is its --timeout. doneAt
// tells when the server finished the job (sandbox.Server.DoneAt).
func (r *refSide) wait(ctx context.Context, client *http.Client, base, id string, doneAt func(string) (time.Time, bool)) {
	sleep := refFirstSleep
	for {
		if ctx.Err() != nil {
			r.fail("job %s: still processing when the run timed out", id)
			return
		}
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			continue
		}
		ans, err := post(ctx, client, base+refFetchPath+id, map[string]any{"key": apiKey})
		at := time.Now()
		r.mu.Lock()
		r.fetchN[id]++
		r.mu.Unlock()
		if err == nil {
			switch str(ans["status"]) {
			case "success":
				done, ok := doneAt(id)
				r.mu.Lock()
				if ok {
					r.lags[id] = at.Sub(done)
				} else {
					r.problems = append(r.problems, fmt.Sprintf("job %s is not the sandbox's", id))
				}
				r.mu.Unlock()
				return
			case "error", "failed":
				r.fail("job %s failed: %v", id, ans["message"])
				return
			}
		}
		sleep = min(2*sleep, refMaxSleep)
	}
}

func (r *refSide) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, "reference: "+fmt.Sprintf(format, args...))
}

// post sends body as JSON and decodes the JSON object answered, whatever
// the HTTP status (the API puts its errors in the body).
func post(ctx context.Context, client *http.Client, url string, body map[string]any) (map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ans map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil {
		return nil, fmt.Errorf("POST %s: HTTP %d, not a JSON object: %w", url, resp.StatusCode, err)
	}
	return ans, nil
}

// idOf reads an id sent as a number or a string.
func idOf(v any) string { return strings.TrimSpace(str(v)) }

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
