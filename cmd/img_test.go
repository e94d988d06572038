package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/output"
)

func TestNewCmdImg(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		wantErr  bool
		endpoint string
		check    func(t *testing.T, o *JobCmdOptions, body map[string]any)
	}{
		{name: "prompt only", args: []string{"a lighthouse"}, endpoint: "text2img", check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
			if b["prompt"] != "a lighthouse" || b["model_id"] != "flux" {
				t.Fatalf("body %v", b)
			}
			if _, ok := b["seed"]; ok {
				t.Fatal("seed sent although not given")
			}
			if o.Job.Wait || o.Job.Timeout != 30*time.Minute {
				t.Fatalf("defaults: wait=%v timeout=%v", o.Job.Wait, o.Job.Timeout)
			}
		}},
		{name: "typed flags", args: []string{"p", "--model", "sdxl", "--width", "512", "--height", "768", "--samples", "2", "--seed", "0", "--steps", "30", "--guidance", "7.5", "-n", "blurry"}, endpoint: "text2img",
			check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
				want := map[string]any{"model_id": "sdxl", "width": 512, "height": 768, "samples": 2, "seed": int64(0), "num_inference_steps": 30, "guidance_scale": 7.5, "negative_prompt": "blurry"}
				for k, v := range want {
					if b[k] != v {
						t.Fatalf("%s = %#v, want %#v", k, b[k], v)
					}
				}
			}},
		{name: "img2img", args: []string{"p", "--init-image", "https://x/i.png"}, endpoint: "img2img"},
		{name: "inpaint", args: []string{"p", "--init-image", "https://x/i.png", "--mask-image", "https://x/m.png"}, endpoint: "inpaint"},
		{name: "controlnet", args: []string{"p", "--init-image", "https://x/i.png", "--controlnet-model", "canny"}, endpoint: "controlnet"},
		{name: "-F wins over typed flags", args: []string{"p", "--width", "512", "-F", "width=640", "-F", "enhance_prompt=true", "-F", "lora=null", "-f", "seed=12"}, endpoint: "text2img",
			check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
				if b["width"] != json.Number("640") || b["enhance_prompt"] != true || b["lora"] != nil || b["seed"] != "12" {
					t.Fatalf("body %v", b)
				}
				if _, ok := b["lora"]; !ok {
					t.Fatal("lora=null dropped")
				}
			}},
		{name: "wait flags", args: []string{"p", "--wait", "--timeout", "3s", "-o", "out", "--json", "--tunnel", "local", "--listen", "127.0.0.1:9999"}, endpoint: "text2img",
			check: func(t *testing.T, o *JobCmdOptions, b map[string]any) {
				j := o.Job
				if !j.Wait || j.Timeout != 3*time.Second || j.OutputDir != "out" || !j.JSON || j.Tunnel != "local" || j.Listen != "127.0.0.1:9999" {
					t.Fatalf("job options %+v", j)
				}
			}},
		{name: "no prompt", args: []string{}, wantErr: true},
		{name: "two prompts", args: []string{"a", "b"}, wantErr: true},
		{name: "blank prompt", args: []string{"  "}, wantErr: true},
		{name: "mask without init", args: []string{"p", "--mask-image", "m"}, wantErr: true},
		{name: "webhook with wait", args: []string{"p", "--wait", "--webhook", "https://x/h"}, wantErr: true},
		{name: "webhook not a URL", args: []string{"p", "--webhook", "nope"}, wantErr: true},
		{name: "tunnel without wait", args: []string{"p", "--tunnel", "local"}, wantErr: true},
		{name: "bad tunnel", args: []string{"p", "--wait", "--tunnel", "pigeon"}, wantErr: true},
		{name: "bad field", args: []string{"p", "-F", "novalue"}, wantErr: false, endpoint: "text2img"}, // caught when the body is built
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ios, _, _, _ := output.Test()
			f := NewFactory(ios, BuildInfo{Version: "t"}, func(string) string { return "" })
			var got *JobCmdOptions
			cmd := newCmdImg(f, func(_ context.Context, o *JobCmdOptions) error { got = o; return nil })
			cmd.SetArgs(c.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if c.wantErr {
				var fe *FlagError
				if err == nil || !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a FlagError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			endpoint, err := got.endpoint()
			if err != nil {
				t.Fatal(err)
			}
			if endpoint != c.endpoint {
				t.Fatalf("endpoint %s, want %s", endpoint, c.endpoint)
			}
			body, err := got.body("v6")
			if c.name == "bad field" {
				var fe *FlagError
				if !errors.As(err, &fe) {
					t.Fatalf("body err = %v, want FlagError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, got, body)
			}
		})
	}
}

// hostileAPI is an API that echoes the key in every answer's meta and
// message and fills ids and messages with terminal escapes.
func hostileAPI(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		key, _ := body["key"].(string)
		meta, _ := json.Marshal(map[string]any{"echo": map[string]any{"api_key": key}, "note": "your key is " + key})
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/fetch") {
			fmt.Fprintf(w, `{"status":"success","id":"7\u001b]0;pwned\u0007","output":["data:image/png;base64,iVBORw0KGgo="],"message":"done for %s \u001b[2J","meta":%s}`, key, meta)
			return
		}
		fmt.Fprintf(w, `{"status":"processing","id":"7\u001b]0;pwned\u0007","eta":0.1,"message":"queued \u001b[31m%s","meta":%s}`, key, meta)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// jobTestFactory is a factory whose configuration, journal and home are in
// fresh temporary directories: a test never touches the real user's.
func jobTestFactory(t testing.TB, env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := output.Test()
	all := map[string]string{"MLAB_CONFIG_DIR": t.TempDir(), "MLAB_STATE_DIR": t.TempDir(), "HOME": t.TempDir()}
	maps.Copy(all, env)
	return NewFactory(ios, BuildInfo{Version: "test"}, func(k string) string { return all[k] }), out, errOut
}

// TestKeyEchoedInMetaNeverPrinted: an API that echoes the key (in meta, in
// the message) never gets it onto --json stdout.
func TestKeyEchoedInMetaNeverPrinted(t *testing.T) {
	const key = "sk-echo-0123456789"
	f, out, errOut := jobTestFactory(t, map[string]string{"MODELSLAB_API_KEY": key, "MODELSLAB_BASE_URL": hostileAPI(t)})
	if code := Run(context.Background(), f, []string{"img", "x", "--wait", "--tunnel", "none", "--json", "--poll-interval", "100ms"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out.String(), key) || strings.Contains(errOut.String(), key) {
		t.Fatalf("the key reached the output:\n%s\n%s", out, errOut)
	}
	var res struct {
		Meta    map[string]any `json:"meta"`
		Message string         `json:"message"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || !strings.Contains(res.Message, "[redacted]") || res.Meta["note"] != "your key is [redacted]" {
		t.Fatalf("result %s (%v): want the key redacted in meta and message", out, err)
	}
}

// TestAPITextIsTerminalSafe: ids, messages and stages from the API reach
// a person's terminal as escapes, never as control sequences.
func TestAPITextIsTerminalSafe(t *testing.T) {
	f, out, errOut := jobTestFactory(t, map[string]string{"MODELSLAB_API_KEY": "sk-echo-0123456789", "MODELSLAB_BASE_URL": hostileAPI(t)})
	if code := Run(context.Background(), f, []string{"img", "x", "--wait", "--tunnel", "none", "--poll-interval", "100ms"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code := Run(context.Background(), f, []string{"img", "y"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for name, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
		if strings.ContainsAny(s, "\x1b\x07") {
			t.Errorf("%s carries terminal controls: %q", name, s)
		}
	}
	if !strings.Contains(errOut.String(), `job 7\x1b]0;pwned\x07`) {
		t.Errorf("stderr %q: want the id shown escaped", errOut)
	}
}

// TestJournalNeverShowsTheKey: an API that echoes the key into a job's
// message gets it into the journal; mlab jobs and jobs view (table, JSON,
// --jq) never print it (found in review: runHistory never knew the key).
func TestJournalNeverShowsTheKey(t *testing.T) {
	const key = "sk-echo-0123456789"
	env := map[string]string{"MODELSLAB_API_KEY": key, "MODELSLAB_BASE_URL": hostileAPI(t)}
	f, out, errOut := jobTestFactory(t, env)
	if code := Run(context.Background(), f, []string{"img", "x", "--wait", "--tunnel", "none", "--json", "--poll-interval", "100ms"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct{ ID string }
	_ = json.Unmarshal(out.Bytes(), &res)
	for _, args := range [][]string{{"jobs"}, {"jobs", "--json"}, {"jobs", "--jq", ".message"}, {"jobs", "view", res.ID}, {"jobs", "view", res.ID, "--json"}} {
		f2, out2, errOut2 := jobTestFactory(t, nil)
		f2.Getenv = f.Getenv
		if code := Run(context.Background(), f2, args); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut2)
		}
		if strings.Contains(out2.String()+errOut2.String(), key) || strings.Contains(out2.String(), "0123456789") {
			t.Fatalf("%v shows the key:\n%s%s", args, out2, errOut2)
		}
	}
}
