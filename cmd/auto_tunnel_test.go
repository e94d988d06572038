package cmd

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// TestAutoTunnelNgrokUnreachable (issue 14, must-show 5): --tunnel auto
// with an authtoken and an ngrok that swallows connections submits within
// 5 s, without a webhook, says so once, and finishes without the webhook.
// The API is the in-process sandbox under a name that is not loopback, so
// auto mode tries ngrok as it would against modelslab.com.
func TestAutoTunnelNgrokUnreachable(t *testing.T) {
	const token = "2abcNGROKSECRETtoken_0123456789abcdef"
	sb := sandbox.New(sandbox.Options{Delay: time.Second})
	loop, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	sbAddr := strings.TrimPrefix(loop, "http://")
	_, port, _ := net.SplitHostPort(sbAddr)
	const host = "api.sandbox.test" // .test never resolves: only the transport below reaches it
	base := "http://" + net.JoinHostPort(host, port)
	if receiver.IsLoopbackURL(base) {
		t.Fatalf("%s counts as loopback: auto would not try ngrok", base)
	}
	var dialer net.Dialer
	apiHTTP := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, _, _ := net.SplitHostPort(addr); h == host {
				addr = sbAddr
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	t.Cleanup(apiHTTP.CloseIdleConnections)
	ingress, dials := blackHoleIngress(t)

	f, out, errOut := jobTestFactory(t, map[string]string{
		"MODELSLAB_API_KEY": "sk-auto-0123456789", "MODELSLAB_BASE_URL": base, "NGROK_AUTHTOKEN": token,
	})
	f.seams = &testSeams{apiHTTP: apiHTTP, tunnel: func(to *receiver.TunnelOptions) { to.AgentConnectURL = ingress }}
	start := time.Now()
	code := Run(context.Background(), f, []string{"img", "a lighthouse", "--wait", "--json", "--timeout", "30s"})
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d after %v:\n%s", code, took, errOut)
	}
	if dials.Load() == 0 {
		t.Fatalf("auto mode never tried ngrok:\n%s", errOut)
	}

	var submit *sandbox.Request
	for _, r := range sb.Requests() {
		if strings.HasSuffix(r.Path, "/text2img") {
			submit = &r
			break
		}
	}
	if submit == nil {
		t.Fatalf("no submit reached the sandbox: %+v", sb.Requests())
	}
	if d := submit.Time.Sub(start); d > 5*time.Second {
		t.Fatalf("the submit reached the API %v after the command started; want at most 5s", d)
	}
	if wh, ok := submit.Body["webhook"]; ok && wh != "" {
		t.Fatalf("the submit carries a webhook %v though no tunnel is up", wh)
	}

	var res struct {
		Status string `json:"status"`
		Via    string `json:"via"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	// No webhook: the job's future links tell its end.
	if res.Status != "success" || res.Via != "links" {
		t.Fatalf("result %s: want success via links", out)
	}

	stderr := errOut.String()
	if n := strings.Count(stderr, "ngrok was not up within 3s"); n != 1 || !strings.Contains(stderr, "submitting without a webhook") {
		t.Fatalf("want one notice that ngrok was not up and the job goes on without a webhook, got %d in:\n%s", n, stderr)
	}
	if strings.Contains(stderr, "NGROKSECRET") || strings.Contains(out.String(), "NGROKSECRET") {
		t.Fatalf("the authtoken reached the output:\n%s\n%s", out, stderr)
	}
	t.Logf("submitted after %v, done after %v via %s; stderr:\n%s", submit.Time.Sub(start), took, res.Via, stderr)
}

// blackHoleIngress is an ngrok agent ingress that accepts connections and
// never answers; it counts them.
func blackHoleIngress(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		dials atomic.Int32
		mu    sync.Mutex
		held  []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return ln.Addr().String(), &dials
}
