package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/webhook"
)

func TestListenCountAndRejections(t *testing.T) {
	var stdout, errOut lockedBuffer
	f := testFactory(t, &stdout, &errOut)
	o := &ListenOptions{f: f, Count: 2, Token: "tok"}
	ready := make(chan string, 1)
	o.Tunnel, o.TunnelWait, o.ForwardTimeout = "local", time.Second, time.Second
	o.onReady = func(u string) { ready <- u }
	done := make(chan error, 1)
	go func() { done <- runListen(context.Background(), o) }()
	hook := <-ready
	if !strings.HasSuffix(hook, "/tok") {
		t.Fatalf("url %s", hook)
	}
	for _, c := range []struct {
		url, body string
		want      int
	}{
		{hook + "x", `{"id":1}`, 404},
		{hook, `not json`, 400},
		{hook, `{"id":1}`, 200},
		{hook, `{"id":1}`, 200},
	} {
		resp, err := http.Post(c.url, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("%s %s: %d, want %d", c.url, c.body, resp.StatusCode, c.want)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("--count 2 did not stop listen")
	}
	// off a terminal: JSON lines even without --json
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	var dups []bool
	for sc.Scan() {
		var l webhook.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		dups = append(dups, l.Duplicate)
	}
	if !slices.Equal(dups, []bool{false, true}) {
		t.Fatalf("duplicates %v\n%s", dups, stdout.String())
	}
	for _, want := range []string{"answered 404: not found", "answered 400: body is not JSON", "Stopped after 2 deliveries (1 duplicate, 2 rejected)"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestListenFlags(t *testing.T) {
	ios, _, _, _ := output.Test()
	f := NewFactory(ios, BuildInfo{}, func(string) string { return "" })
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"--tunnel", "local", "--listen", "127.0.0.1:0", "--token", "t0k", "--count", "3", "--json", "--forward-to", "http://localhost:3000/x", "--record", "r.jsonl", "-v", "--print-url"}, true},
		{[]string{"--public-url", "https://hooks.example.com/base", "--listen", "127.0.0.1:8787"}, true},
		{[]string{"--tunnel", "ngrok"}, true},
		{[]string{"--tunnel", "none"}, false},
		{[]string{"--tunnel", "url"}, false},
		{[]string{"--tunnel", "ngrok", "--listen", "127.0.0.1:1"}, false},
		{[]string{"--tunnel", "local", "--public-url", "https://x.example"}, false},
		{[]string{"--token", "a b"}, false},
		{[]string{"--token", strings.Repeat("a", 129)}, false},
		{[]string{"--count", "-1"}, false},
		{[]string{"--forward-to", "ftp://x"}, false},
		{[]string{"--forward-timeout", "0s"}, false},
		{[]string{"extra"}, false},
	} {
		var got *ListenOptions
		err := executeQuietly(newCmdListen(f, func(_ context.Context, o *ListenOptions) error { got = o; return nil }), c.args)
		if (err == nil) != c.ok {
			t.Errorf("%v: err %v, want ok=%v", c.args, err, c.ok)
			continue
		}
		if err != nil && exitCodeFor(err) != ExitUsage {
			t.Errorf("%v: exit %d, want 2", c.args, exitCodeFor(err))
		}
		if c.ok && got == nil {
			t.Errorf("%v: not run", c.args)
		}
	}
}
