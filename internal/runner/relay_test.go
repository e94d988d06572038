package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/relay"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// relayMemory is an in-process broker with a live relay advertised at
// http://relay.test.
func relayMemory(t *testing.T) *relay.Memory {
	t.Helper()
	m := relay.NewMemory()
	if err := m.Advertise(context.Background(), relay.RelayInfo{ID: "r1", URL: "http://relay.test", Started: time.Now()}, time.Hour); err != nil {
		t.Fatal(err)
	}
	return m
}

func registered(t *testing.T, m *relay.Memory, tok string) bool {
	t.Helper()
	ok, err := m.Registered(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestRunRelayTimedOutKeepsToken: with Options.Relay a job's webhook is
// the relay's URL + a fresh token, journalled; a wait that times out
// keeps the token registered (for mlab wait).
func TestRunRelayTimedOutKeepsToken(t *testing.T) {
	m := relayMemory(t)
	_, client := memAPI(t, sandbox.Options{Delay: time.Hour})
	jr, obs := openJournal(t), &recorder{}
	r := runner.New(runner.Options{Client: client, Journal: jr, Wait: true, Timeout: 300 * time.Millisecond, ProbeRate: -1,
		Relay: relay.NewWaiter(m, relay.WaiterOptions{}), RelayURL: "redis://u:xxxxx@redis.test:6379/0"})
	j := newJob(t, "text2img", map[string]any{"prompt": "x"})
	o, err := r.Run(context.Background(), j, obs)
	var stopped *runner.StoppedError
	if !errors.As(err, &stopped) {
		t.Fatalf("err %v: want a StoppedError", err)
	}
	hook, _ := j.Body["webhook"].(string)
	tok, ok := strings.CutPrefix(hook, "http://relay.test/")
	if !ok || tok == "" {
		t.Fatalf("webhook %q is not on the relay", hook)
	}
	e := entry(t, jr, o.ID)
	if e.RelayToken != tok || e.RelayURL != "redis://u:xxxxx@redis.test:6379/0" || e.Tunnel != "relay" {
		t.Fatalf("journal %+v: want the relay token, URL and tunnel relay", e)
	}
	if !registered(t, m, tok) {
		t.Fatal("a stopped wait's token is no longer registered: mlab wait would miss its webhook")
	}
	if len(obs.submitted) != 1 || !strings.Contains(obs.submitted[0], "(relay)") {
		t.Errorf("submitted %q: want the relay named", obs.submitted)
	}
}

// TestRunRelayDoneUnregisters: a job that ends (here by polling: nothing
// delivers to relay.test) unregisters its token.
func TestRunRelayDoneUnregisters(t *testing.T) {
	m := relayMemory(t)
	_, client := memAPI(t, sandbox.Options{Delay: 100 * time.Millisecond, DropWebhooks: true})
	r := runner.New(runner.Options{Client: client, Wait: true, Timeout: 30 * time.Second, PollInterval: 100 * time.Millisecond, ProbeRate: -1,
		Relay: relay.NewWaiter(m, relay.WaiterOptions{})})
	j := newJob(t, "text2img", map[string]any{"prompt": "x"})
	o, err := r.Run(context.Background(), j, &recorder{})
	if err != nil || o.Status != runner.StatusSuccess {
		t.Fatalf("outcome %+v, err %v", o, err)
	}
	tok := strings.TrimPrefix(j.Body["webhook"].(string), "http://relay.test/")
	if registered(t, m, tok) {
		t.Fatal("a finished job's token is still registered")
	}
}

// TestRunRelayNoRelayPolls: no live relay at a job's registration: a
// notice, no webhook, the job polled.
func TestRunRelayNoRelayPolls(t *testing.T) {
	m := relay.NewMemory()
	_, client := memAPI(t, sandbox.Options{Delay: 100 * time.Millisecond})
	obs := &recorder{}
	r := runner.New(runner.Options{Client: client, Wait: true, Timeout: 30 * time.Second, PollInterval: 100 * time.Millisecond, ProbeRate: -1,
		Relay: relay.NewWaiter(m, relay.WaiterOptions{})})
	j := newJob(t, "text2img", map[string]any{"prompt": "x"})
	o, err := r.Run(context.Background(), j, obs)
	if err != nil || o.Status != runner.StatusSuccess {
		t.Fatalf("outcome %+v, err %v", o, err)
	}
	if _, ok := j.Body["webhook"]; ok {
		t.Fatalf("webhook %v without a live relay", j.Body["webhook"])
	}
	if n := obs.noticeTexts(); len(n) != 1 || !strings.Contains(n[0], "no live mlab relay") {
		t.Fatalf("notices %q: want one about no live relay", n)
	}
	// The submitted line says what happens: polling, not "waiting for its
	// webhook (relay)" (found in review).
	if len(obs.submitted) != 1 || strings.Contains(obs.submitted[0], "relay") || !strings.Contains(obs.submitted[0], "polling for the result") {
		t.Errorf("submitted %q: want polling, no relay", obs.submitted)
	}
}

// TestRunRelayNoRelayBatchOneNotice: a batch whose jobs cannot register
// with the relay says so once, not once a job, and polls them all.
func TestRunRelayNoRelayBatchOneNotice(t *testing.T) {
	_, client := memAPI(t, sandbox.Options{Delay: 100 * time.Millisecond})
	obs := &recorder{}
	r := runner.New(runner.Options{Client: client, Wait: true, Timeout: 30 * time.Second, PollInterval: 100 * time.Millisecond, ProbeRate: -1,
		BatchID: "b-000000000002", Relay: relay.NewWaiter(relay.NewMemory(), relay.WaiterOptions{})})
	tot, errs := r.Batch(context.Background(), batchJobs(t, 5), 2, obs)
	if len(errs) != 0 || tot.Succeeded != 5 {
		t.Fatalf("totals %+v, errors %v", tot, errs)
	}
	if n := obs.noticeTexts(); len(n) != 1 || !strings.Contains(n[0], "no live mlab relay") {
		t.Fatalf("notices %q: want one about no live relay for the whole batch", n)
	}
}
