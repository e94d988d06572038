package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/relay/redistest"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// testRelayURL returns a redis:// URL on the test server's database db,
// emptied before and after the test; it skips (fails under CI=true)
// without MLAB_TEST_REDIS.
func testRelayURL(t *testing.T, db int) string { return redistest.DB(t, db) }

// relayJobEnv is a job command's environment against the sandbox at base,
// with its own journal.
func relayJobEnv(t *testing.T, base string) map[string]string {
	return map[string]string{"MODELSLAB_API_KEY": "sk-relay-0123456789", "MODELSLAB_BASE_URL": base,
		"MLAB_CONFIG_DIR": t.TempDir(), "MLAB_STATE_DIR": t.TempDir(), "HOME": t.TempDir()}
}

func runWithEnv(env map[string]string, args ...string) (int, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := output.Test()
	all := maps.Clone(env)
	f := NewFactory(ios, BuildInfo{Version: "test"}, func(k string) string { return all[k] })
	code := Run(context.Background(), f, args)
	return code, out, errOut
}

type relayResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Via    string `json:"via"`
}

func decodeResult(t *testing.T, out *bytes.Buffer) relayResult {
	t.Helper()
	var r relayResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	return r
}

// TestRelayEndToEnd (issue 17): one in-process `mlab listen --relay`
// (--tunnel local), job commands with --relay against the sandbox (which
// sends webhooks): every job ends via the webhook; a token nobody
// registered is 404; a wait that timed out is resumed with mlab wait and
// finds the webhook stored meanwhile.
func TestRelayEndToEnd(t *testing.T) {
	relayURL := testRelayURL(t, 7)
	// The eta is far off (10 s) and links are not watched: only the
	// webhook can end a job within a few seconds.
	sb := sandbox.New(sandbox.Options{Delay: time.Second, ETA: 10 * time.Second})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })

	var lout, lerr lockedBuffer
	lo := &ListenOptions{f: testFactory(t, &lout, &lerr), Relay: relayURL, JSON: true}
	own, stop := startListen(t, lo)
	public := own[:strings.LastIndexByte(own, '/')]

	t.Run("jobs", func(t *testing.T) {
		const n = 6
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, out, errOut := runWithEnv(relayJobEnv(t, base), "img", fmt.Sprintf("job %d", i), "--wait", "--json", "--relay", relayURL, "--probe-rate", "0", "--timeout", "30s")
				if code != 0 {
					t.Errorf("job %d: exit %d:\n%s", i, code, errOut)
					return
				}
				if r := decodeResult(t, out); r.Status != "success" || r.Via != "webhook" {
					t.Errorf("job %d: %+v, want success via webhook; stderr:\n%s", i, r, errOut)
				}
				if strings.Contains(errOut.String(), "sk-relay") {
					t.Errorf("job %d: the key reached stderr", i)
				}
			}()
		}
		wg.Wait()
		if st := lo.relay.Stats(); st.Stored < n || st.Failed != 0 {
			t.Errorf("relay stats %+v: want at least %d stored, none failed", st, n)
		}
		for _, req := range sb.Requests() {
			if wh, _ := req.Body["webhook"].(string); strings.HasSuffix(req.Path, "/text2img") && !strings.HasPrefix(wh, public+"/") {
				t.Errorf("a submit's webhook is %q, want the relay's %s/<token>", wh, public)
			}
		}
	})

	t.Run("unregistered token", func(t *testing.T) {
		resp, err := http.Post(public+"/0123456789abcdef0123456789abcdef", "application/json", strings.NewReader(`{"status":"success","id":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("POST for a token nobody registered: %d, want 404", resp.StatusCode)
		}
	})

	t.Run("resume", func(t *testing.T) {
		env := relayJobEnv(t, base)
		code, out, errOut := runWithEnv(env, "img", "a resumed job", "--wait", "--json", "--relay", relayURL, "--probe-rate", "0", "--timeout", "500ms")
		if code != ExitTimeout {
			t.Fatalf("exit %d, want %d (timed out):\n%s\n%s", code, ExitTimeout, out, errOut)
		}
		r := decodeResult(t, out)
		if r.ID == "" {
			t.Fatalf("no job id in %s", out)
		}
		journalled, err := os.ReadFile(filepath.Join(env["MLAB_STATE_DIR"], journal.LogName))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(journalled), `"relay_token":"`) || !strings.Contains(string(journalled), `"relay_url":"redis://`) {
			t.Fatalf("the journal keeps no relay token/URL:\n%s", journalled)
		}
		time.Sleep(2 * time.Second) // the sandbox's webhook arrives (after 1 s) while nobody waits
		code, out, errOut = runWithEnv(env, "wait", r.ID, "--json", "--poll-interval", "5s")
		if code != 0 {
			t.Fatalf("mlab wait: exit %d:\n%s", code, errOut)
		}
		if w := decodeResult(t, out); w.Status != "success" || w.Via != "webhook" {
			t.Fatalf("mlab wait: %+v, want success via webhook (found in the stream); stderr:\n%s", w, errOut)
		}
	})

	t.Run("resume batch", func(t *testing.T) {
		env := relayJobEnv(t, base)
		lines := filepath.Join(t.TempDir(), "prompts.txt")
		if err := os.WriteFile(lines, []byte("one\ntwo\nthree\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runWithEnv(env, "img", "--batch", lines, "--wait", "--json", "--relay", relayURL, "--probe-rate", "0", "--timeout", "500ms")
		m := regexp.MustCompile(`mlab wait --batch (b-[0-9a-f]{12})`).FindStringSubmatch(errOut.String())
		if code != ExitTimeout || m == nil {
			t.Fatalf("exit %d, want %d with a resume hint:\n%s\n%s", code, ExitTimeout, out, errOut)
		}
		time.Sleep(2 * time.Second) // the webhooks arrive while nobody waits
		code, out, errOut = runWithEnv(env, "wait", "--batch", m[1], "--json", "--poll-interval", "5s")
		if code != 0 {
			t.Fatalf("mlab wait --batch: exit %d:\n%s", code, errOut)
		}
		res := strings.Split(strings.TrimSpace(out.String()), "\n")
		for _, line := range res {
			if r := decodeResult(t, bytes.NewBufferString(line)); r.Status != "success" || r.Via != "webhook" {
				t.Errorf("mlab wait --batch: %+v, want success via webhook (found in the stream); stderr:\n%s", r, errOut)
			}
		}
		if len(res) != 3 {
			t.Errorf("mlab wait --batch: %d results, want 3:\n%s", len(res), out)
		}
	})

	t.Run("doctor", func(t *testing.T) {
		_, out, errOut := runWithEnv(relayJobEnv(t, base), "doctor", "--sandbox", "--json", "--relay", relayURL, "--timeout", "5s")
		var rep struct {
			Checks []doctorCheck `json:"checks"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("doctor --json %q: %v\n%s", out, err, errOut)
		}
		seen := 0
		for _, c := range rep.Checks {
			if strings.HasPrefix(c.Name, "relay") {
				seen++
				if c.Status != checkOK {
					t.Errorf("doctor check %+v: want ok", c)
				}
			}
		}
		if seen != 4 {
			t.Fatalf("want 4 relay checks, got %d: %+v", seen, rep.Checks)
		}
	})

	st := lo.relay.Stats()
	if err := stop(); err != nil {
		t.Fatalf("listen: %v\n%s", err, lerr.String())
	}
	if st.Failed != 0 || st.NotFound != 1 {
		t.Errorf("relay stats %+v: want no 503 and the one 404; listen's stderr:\n%s", st, lerr.String())
	}
	if !strings.Contains(lerr.String(), "Relaying job webhooks through "+relayURL) {
		t.Errorf("listen's stderr does not say it relays:\n%s", lerr.String())
	}
}

// TestRelayNoLiveRelay: --relay with no live relay (no heartbeat) says so
// once and polls: no hang, no webhook.
func TestRelayNoLiveRelay(t *testing.T) {
	relayURL := testRelayURL(t, 8)
	sb := sandbox.New(sandbox.Options{Delay: 300 * time.Millisecond})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	env := relayJobEnv(t, base)
	env["MLAB_RELAY"] = relayURL // the environment variable, this time
	code, out, errOut := runWithEnv(env, "img", "x", "--wait", "--json", "--probe-rate", "0", "--poll-interval", "100ms", "--timeout", "20s")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	if r := decodeResult(t, out); r.Status != "success" || r.Via == "webhook" {
		t.Fatalf("%+v: want success, polled", r)
	}
	if n := strings.Count(errOut.String(), "no live mlab relay"); n != 1 {
		t.Fatalf("want one notice of no live relay, got %d:\n%s", n, errOut)
	}
	for _, req := range sb.Requests() {
		if wh, ok := req.Body["webhook"]; ok && wh != "" {
			t.Fatalf("a submit carries a webhook %v without a live relay", wh)
		}
	}
}

// TestRelayResumeNeedsPassword: the journal keeps a relayed job's Redis URL
// without its password, so `mlab wait ID` without --relay cannot read the
// stream: it says so and what to give (found in review), and with
// MLAB_RELAY it finds the webhook stored meanwhile.
func TestRelayResumeNeedsPassword(t *testing.T) {
	const pw = "team-pw-1234"
	srv := redistest.Start(t, "--requirepass", pw)
	relayURL := "redis://:" + pw + "@" + srv.Addr() + "/0"
	sb := sandbox.New(sandbox.Options{Delay: 300 * time.Millisecond, ETA: time.Minute})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	var lout, lerr lockedBuffer
	_, stop := startListen(t, &ListenOptions{f: testFactory(t, &lout, &lerr), Relay: relayURL, JSON: true})
	defer stop()

	env := relayJobEnv(t, base)
	var ids []string
	for _, prompt := range []string{"a", "b"} {
		code, out, errOut := runWithEnv(env, "img", prompt, "--wait", "--json", "--relay", relayURL, "--probe-rate", "0", "--timeout", "200ms")
		if code != ExitTimeout {
			t.Fatalf("exit %d, want %d:\n%s", code, ExitTimeout, errOut)
		}
		ids = append(ids, decodeResult(t, out).ID)
	}
	time.Sleep(time.Second) // the webhooks are stored while nobody waits
	code, _, errOut := runWithEnv(env, "wait", ids[0], "--json", "--timeout", "2s")
	if !strings.Contains(errOut.String(), "the journal keeps the relay's URL without its password: give --relay URL or set MLAB_RELAY") || strings.Contains(errOut.String(), pw) {
		t.Fatalf("mlab wait without the password (exit %d): want the hint, never the password:\n%s", code, errOut)
	}
	env["MLAB_RELAY"] = relayURL
	code, out, errOut := runWithEnv(env, "wait", ids[1], "--json")
	if r := decodeResult(t, out); code != 0 || r.Via != "webhook" {
		t.Fatalf("mlab wait with MLAB_RELAY: exit %d, %+v; want via webhook:\n%s", code, r, errOut)
	}
}
