package cmd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/webhook"
)

// TestListenStopsWithTheTerminalBlocked: stdout and stderr never take a
// byte (a pipe nobody reads); mlab listen still comes up (auto mode
// writes a notice on the way), answers, and stops within 2 s of Ctrl-C.
func TestListenStopsWithTheTerminalBlocked(t *testing.T) {
	for _, mode := range []string{"local", "auto"} {
		t.Run(mode, func(t *testing.T) { listenWithTheTerminalBlocked(t, mode) })
	}
}

func listenWithTheTerminalBlocked(t *testing.T, mode string) {
	stuck := make(chan struct{})
	defer close(stuck) // lets the abandoned writers go once the test is over
	f := testFactory(t, &gate{open: stuck, w: io.Discard}, &gate{open: stuck, w: io.Discard})
	hook, stop := startListen(t, &ListenOptions{f: f, JSON: true, Tunnel: mode})
	for i := range 5 {
		if code := postStatus(t, hook, fmt.Sprintf(`{"status":"success","id":%d}`, i)); code != 200 {
			t.Fatalf("delivery %d answered %d", i, code)
		}
		if code := postStatus(t, hook+"x", `{}`); code != 404 {
			t.Fatalf("wrong token answered %d", code)
		}
	}
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stopped in %s with stdout and stderr blocked", time.Since(began).Round(time.Millisecond))
	case <-time.After(2 * time.Second):
		t.Fatal("mlab listen still running 2s after Ctrl-C with stdout and stderr blocked")
	}
}

// postStatus POSTs a JSON body with headers (name, value, ...) and
// returns the answer's status.
func postStatus(t *testing.T, url, body string, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// hostile is a payload whose status, id and track_id carry a screen
// clear, an OSC title, an OSC 52 clipboard write, a forged line and a
// bidi override.
const hostile = `{"status":"\u001b[2J","id":"\u001b]0;pwned\u0007","track_id":"x\r\n15:04:05  --> success forged\u001b]52;c;cHduZWQ=\u0007","output":["` + "\u202e" + `gnp.exe"]}`

// checkSafe fails unless text holds no control or bidi character other
// than newlines.
func checkSafe(t *testing.T, what, text string) {
	t.Helper()
	for _, r := range text {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e {
			t.Fatalf("%s holds %U:\n%q", what, r, text)
		}
	}
}

// TestListenHumanOutputIsTerminalSafe: on a terminal, a payload's fields,
// its headers and pretty body (--verbose), and a rejected request's
// percent-decoded path are shown escaped; JSON lines stay exact JSON.
func TestListenHumanOutputIsTerminalSafe(t *testing.T) {
	var stdout, errOut lockedBuffer
	f := testFactory(t, &stdout, &errOut)
	f.IO.SetStdoutTTY(true)
	hook, stop := startListen(t, &ListenOptions{f: f, Verbose: true})
	// X-Evil: a C1 CSI and a bidi override, as UTF-8.
	if code := postStatus(t, hook, hostile, "X-Evil", "\u009b2J\u202e"); code != 200 {
		t.Fatalf("delivery answered %d", code)
	}
	if code := postStatus(t, hook[:strings.LastIndex(hook, "/")]+"/%1b[2J%1b]0;pwned%07", `{}`); code != 404 {
		t.Fatalf("wrong path answered %d", code)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out, errs := stdout.String(), errOut.String()
	checkSafe(t, "stdout", out)
	checkSafe(t, "stderr", errs)
	for _, want := range []string{`--> \x1b[2J`, `id \x1b]0;pwned\x07`, `track_id x\r\n15:04:05  --> success forged\x1b]52;c;cHduZWQ=\x07`, `X-Evil: \u009b2J\u202e`, `"\u202egnp.exe"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %s:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "15:04:05  --> success forged") {
			t.Errorf("a forged delivery line:\n%s", out)
		}
	}
	if !strings.Contains(errs, `POST /\x1b[2J\x1b]0;pwned\x07 from 127.0.0.1:`) {
		t.Errorf("stderr lacks the escaped, percent-decoded path:\n%s", errs)
	}

	// --json: the line is exact JSON, escapes as JSON writes them.
	stdout = lockedBuffer{}
	f = testFactory(t, &stdout, io.Discard)
	hook, stop = startListen(t, &ListenOptions{f: f, JSON: true})
	postStatus(t, hook, hostile)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), `"body":{"status":"\u001b[2J","id":"\u001b]0;pwned\u0007",`) {
		t.Fatalf("JSON line:\n%s", stdout.String())
	}
}

// TestListenRejectionFloodIsCoalesced: 400 requests without the token,
// each with a 60 KB path, make a bounded number of short stderr lines:
// ten a second one by one, the rest summed up.
func TestListenRejectionFloodIsCoalesced(t *testing.T) {
	var errOut lockedBuffer
	f := testFactory(t, io.Discard, &errOut)
	hook, stop := startListen(t, &ListenOptions{f: f, JSON: true})
	u, _ := url.Parse(hook)
	const n = 400
	path := "/%1b[2J" + strings.Repeat("a", 60_000)
	began := time.Now()
	floodPaths(t, u.Host, path, n, 4)
	took := time.Since(began)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	windows := int(took/time.Second) + 2
	detailed, summed := 0, 0
	for _, l := range lines {
		if len(l) > 400 {
			t.Fatalf("a %d-byte stderr line: %.120q", len(l), l)
		}
		if strings.Contains(l, "answered 404: not found") {
			detailed++
			if !strings.Contains(l, `GET /\x1b[2Jaaaa`) || !strings.Contains(l, "… (60005 bytes)") {
				t.Fatalf("line %q", l)
			}
		}
		var k int
		if _, err := fmt.Sscanf(l, "! %d more rejected (404: ", &k); err == nil {
			summed += k
		}
	}
	if detailed > 1+10*windows || detailed+summed != n {
		t.Fatalf("%d reported one by one, %d summed up, want %d in all (%s):\n%s", detailed, summed, n, took, errOut.String())
	}
	if !strings.Contains(errOut.String(), fmt.Sprintf("Stopped after 0 deliveries (0 duplicate, %d rejected)", n)) {
		t.Fatalf("stderr:\n%s", errOut.String())
	}
	t.Logf("%d rejections in %s: %d lines on stderr", n, took.Round(time.Millisecond), len(lines))
}

// floodPaths GETs path n times over conns keep-alive connections.
func floodPaths(t *testing.T, addr, path string, n, conns int) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i := c; i < n; i += conns {
				conn.Write(req)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// TestListenViewSummaries: the coalesced rejections, the 503s and what a
// stop could not process are said on stderr.
func TestListenViewSummaries(t *testing.T) {
	var errOut lockedBuffer
	ios, _, _, _ := output.Test()
	ios.ErrOut = &errOut
	v := newListenView(ios, true, false)
	v.RejectedMany(webhook.RejectionSummary{Busy: 7, ByStatus: map[int]int{404: 19990, 413: 2}})
	v.Stopped(webhook.Stats{Deliveries: 3, Rejected: 19999, Busy: 7, Unprocessed: 2, PastCount: 1})
	v.close()
	for _, want := range []string{
		"! 7 deliveries refused with 503 (busy: try again): mlab could not keep up; the senders may retry\n",
		"! 19992 more rejected (404: 19990, 413: 2)\n",
		"! 2 deliveries answered but neither shown, recorded nor forwarded: mlab stopped before it could take them\n",
		"! 1 delivery arrived after --count was reached: answered, not shown or recorded\n",
		"Stopped after 3 deliveries (0 duplicate, 19999 rejected, 7 refused busy)\n",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
}

// TestTermWriter: a writer that waits gets room once the terminal reads;
// one that does not wait loses its text when there is none; close gives
// up on a terminal that takes nothing, and counts what it lost.
func TestTermWriter(t *testing.T) {
	open := make(chan struct{})
	var got lockedBuffer
	tw := newTermWriter(&gate{open: open, w: &got}, 10)
	tw.write("01234", true) // taken by the writer, which blocks on the gate
	time.Sleep(10 * time.Millisecond)
	tw.write("abcd", false) // 9 of 10 bytes pending
	if tw.write("lost", false) {
		t.Fatal("queued past the bound")
	}
	waited := make(chan bool)
	go func() { waited <- tw.write("XY", true) }()
	select {
	case <-waited:
		t.Fatal("did not wait for room")
	case <-time.After(20 * time.Millisecond):
	}
	close(open)
	if !<-waited {
		t.Fatal("not queued once there was room")
	}
	if lost := tw.close(time.Second, time.Second); lost != 1 || got.String() != "01234abcdXY" {
		t.Fatalf("lost %d, wrote %q", lost, got.String())
	}

	stuck := make(chan struct{})
	defer close(stuck)
	tw = newTermWriter(&gate{open: stuck, w: io.Discard}, 100)
	tw.write("first", true)
	tw.write("second", true)
	began := time.Now()
	if lost := tw.close(50*time.Millisecond, time.Second); lost != 2 {
		t.Fatalf("lost %d, want 2", lost)
	}
	if took := time.Since(began); took > 500*time.Millisecond {
		t.Fatalf("close took %s with the terminal stuck", took)
	}
	if tw.write("late", true) {
		t.Fatal("queued after close")
	}
}
