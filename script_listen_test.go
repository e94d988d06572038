package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Commands for the webhook-tool scripts (listen_*, replay_*, trigger_*).
func init() {
	scriptCmds["freeport"] = cmdFreePort
	scriptCmds["wait-port"] = cmdWaitPort
	scriptCmds["sink"] = cmdSink
	scriptCmds["bodies-match"] = cmdBodiesMatch
	scriptCmds["post-timed"] = cmdPostTimed
	scriptCmds["same-bodies"] = cmdSameBodies
}

// interrupt PATTERN CODE PROG [ARGS...] starts PROG, sends it SIGINT once a
// line of its stderr matches PATTERN, and asserts its exit code; PROG's
// stdout and stderr become the script's.
func cmdInterrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: interrupt PATTERN CODE PROG [ARGS...]")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	path, err := lookPath(ts, args[2])
	ts.Check(err)
	c := exec.Command(path, args[3:]...)
	c.Dir = ts.Getenv("WORK")
	c.Env = scriptEnv(ts)
	if v := ts.Getenv("MLAB_FORCE_TTY"); v != "" {
		c.Env = append(c.Env, "MLAB_FORCE_TTY="+v)
	}
	var stdout, stderr bytes.Buffer
	c.Stdout = &stdout
	pipe, err := c.StderrPipe()
	ts.Check(err)
	ts.Check(c.Start())
	matched := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if re.MatchString(sc.Text()) {
				once.Do(func() { close(matched) })
			}
		}
	}()
	select {
	case <-matched:
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		<-readDone
		c.Wait()
		ts.Fatalf("interrupt: stderr never matched %q:\n%s", args[0], stderr.String())
	}
	ts.Check(c.Process.Signal(syscall.SIGINT))
	<-readDone
	err = c.Wait()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	}
	fmt.Fprint(ts.Stdout(), stdout.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	if got != want {
		ts.Fatalf("%s exited %d after SIGINT, want %d\n%s", args[2], got, want, stderr.String())
	}
}

// same-bodies A B checks that two listen records (JSON lines) hold the same
// delivery bodies, byte for byte, in the same order.
func cmdSameBodies(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: same-bodies A.jsonl B.jsonl")
	}
	a, b := recordedBodies(ts, args[0]), recordedBodies(ts, args[1])
	if len(a) != len(b) {
		ts.Fatalf("same-bodies: %s has %d deliveries, %s %d", args[0], len(a), args[1], len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			ts.Fatalf("same-bodies: delivery %d differs:\n%s\n%s", i+1, a[i], b[i])
		}
	}
}

func recordedBodies(ts *testscript.TestScript, file string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(ts.ReadFile(file)), "\n") {
		var l struct {
			Body    json.RawMessage `json:"body"`
			RawBody string          `json:"raw_body"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			ts.Fatalf("%s: %v", file, err)
		}
		if l.RawBody != "" {
			out = append(out, l.RawBody)
		} else {
			out = append(out, string(l.Body))
		}
	}
	return out
}

// bodies-match DIR FILE... checks that every FILE's bytes arrived, exactly,
// as one of the bodies a sink wrote to DIR (in any order).
func cmdBodiesMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: bodies-match DIR FILE...")
	}
	got, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), "*.body"))
	ts.Check(err)
	bodies := map[string]bool{}
	for _, g := range got {
		b, err := os.ReadFile(g)
		ts.Check(err)
		bodies[string(b)] = true
	}
	for _, f := range args[1:] {
		if !bodies[ts.ReadFile(f)] {
			ts.Fatalf("bodies-match: no body in %s is byte-for-byte %s (%d bodies there)", args[0], f, len(got))
		}
	}
}

// post-timed MAX URL FILE POSTs FILE and fails unless the answer is 2xx and
// arrives within MAX.
func cmdPostTimed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: post-timed MAX URL FILE")
	}
	max, err := time.ParseDuration(args[0])
	ts.Check(err)
	start := time.Now()
	resp, err := http.Post(args[1], "application/json", strings.NewReader(ts.ReadFile(args[2])))
	ts.Check(err)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode/100 != 2 || took > max {
		ts.Fatalf("post-timed: answered %d in %s, want 2xx within %s", resp.StatusCode, took, max)
	}
}

// freeport VAR sets VAR to a TCP port on 127.0.0.1 that was free a moment
// ago (for `mlab listen --listen 127.0.0.1:$VAR`, or a port nobody listens
// on).
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	port, err := loopbackPort()
	ts.Check(err)
	ts.Setenv(args[0], fmt.Sprint(port))
}

// loopbackPort is a TCP port on 127.0.0.1 that was free a moment ago.
func loopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// wait-port HOST:PORT waits (up to 20s) until something accepts TCP
// connections there.
func cmdWaitPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wait-port HOST:PORT")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", args[0], time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("wait-port: nothing listens on %s after 20s", args[0])
}

// sink NAME [-status CODE] [-delay D] starts an HTTP server standing for the
// user's app: it answers every request with CODE (default 200) after D, and
// writes the Nth request's body to $WORK/NAME/N.body and its method, path
// and headers to $WORK/NAME/N.head. It sets NAME_URL to its base URL.
func cmdSink(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: sink NAME [-status CODE] [-delay D]")
	}
	name := args[0]
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	status := fs.Int("status", 200, "status to answer")
	delay := fs.Duration("delay", 0, "delay before answering")
	if err := fs.Parse(args[1:]); err != nil {
		ts.Fatalf("sink: %v", err)
	}
	dir := ts.MkAbs(name)
	ts.Check(os.MkdirAll(dir, 0o755))
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		var head strings.Builder
		fmt.Fprintf(&head, "%s %s\n", r.Method, r.URL.Path)
		for _, k := range slices.Sorted(maps.Keys(r.Header)) {
			fmt.Fprintf(&head, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.head", i)), []byte(head.String()), 0o644)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.body", i)), body, 0o644)
		time.Sleep(*delay)
		w.WriteHeader(*status)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(name+"_URL", srv.URL)
}

// The figure of issue 13 ("What it must show", item 4), as a test of the
// real binary: docs/benchmarks.md quotes what it logs.
const (
	floodRequests = 20_000
	floodPathLen  = 60_000 // bytes in each rejected request's path
	floodSenders  = 8      // concurrent connections sending it
	floodMaxRSS   = 100 << 20
	floodAnswer   = time.Second     // a valid delivery's answer, during the flood
	floodExit     = 2 * time.Second // SIGTERM to exit, stdout and stderr unread
)

// TestListenRejectionFlood starts `mlab listen` (the real binary, built
// for the test) with stdout and stderr on pipes nobody reads, sends it
// 20,000 requests with 60 KB paths and no token from 8 connections, and
// checks that its peak RSS (VmHWM) stays under 100 MB, that valid
// deliveries sent during the flood are answered 200 within 1 s, and that
// SIGTERM ends it within 2 s.
func TestListenRejectionFlood(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/status")
	}
	bin := buildMlab(t)
	addr := freeAddr(t)
	c := exec.Command(bin, "listen", "--tunnel", "local", "--listen", addr, "--token", "t0k", "--json")
	c.Dir = t.TempDir()
	c.Env = append(os.Environ(), "MLAB_CONFIG_DIR="+c.Dir, "MLAB_STATE_DIR="+c.Dir, "NO_COLOR=1", "GORACE=atexit_sleep_ms=10")
	// Pipes nobody reads, full before mlab starts: every write blocks.
	stdoutR, stdoutW := fullPipe(t)
	stderrR, stderrW := fullPipe(t)
	defer stdoutR.Close()
	defer stderrR.Close()
	c.Stdout, c.Stderr = stdoutW, stderrW
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stdoutW.Close()
	stderrW.Close()
	exited, gone := make(chan error, 1), make(chan struct{})
	go func() { exited <- c.Wait(); close(gone) }()
	defer func() {
		c.Process.Kill() // if it is still running
		<-gone
	}()
	hook := "http://" + addr + "/t0k"
	waitListening(t, hook, exited)
	watch := watchRSS(c.Process.Pid, 1<<30, c.Process.Kill) // a runaway is killed at 1 GiB

	start := time.Now()
	slowest, answered, err := floodWithDeliveries(t, addr, hook)
	flood := time.Since(start)
	hwm, killed := watch.stop()
	if killed {
		t.Fatalf("RSS passed %d MiB during the flood: killed (%v)", hwm>>20, err)
	}
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	t.Logf("%d rejected requests of %d KB from %d senders in %s (%.0f/s); peak RSS (VmHWM) %.1f MiB; valid deliveries answered 200 during the flood: %d, slowest %s",
		floodRequests, floodPathLen/1000, floodSenders, flood.Round(time.Millisecond), floodRequests/flood.Seconds(), float64(hwm)/(1<<20), answered, slowest.Round(time.Microsecond))
	if hwm >= floodMaxRSS {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB", float64(hwm)/(1<<20), floodMaxRSS>>20)
	}

	sig := time.Now()
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		took := time.Since(sig)
		t.Logf("SIGTERM with stdout and stderr unread: exited in %s (%v)", took.Round(time.Millisecond), err)
		if took > floodExit {
			t.Errorf("exited %s after SIGTERM, want within %s", took, floodExit)
		}
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0", err)
		}
	case <-time.After(floodExit + 3*time.Second):
		t.Fatalf("still running %s after SIGTERM with stderr unread", time.Since(sig).Round(time.Millisecond))
	}
}

// floodWithDeliveries sends the rejected requests; every 2,000 of them a
// valid delivery is posted to hook and timed. It returns the slowest of
// those answers and how many were answered 200 in time.
func floodWithDeliveries(t *testing.T, addr, hook string) (slowest time.Duration, answered int, err error) {
	path := floodPath()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range floodSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendRejected(addr, path, &next); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		}()
	}
	sent := make(chan struct{})
	go func() { wg.Wait(); close(sent) }()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 1; ; i++ {
		if !waitSent(&next, int64(i)*2000, sent) {
			break
		}
		began := time.Now()
		resp, err := client.Post(hook, "application/json", strings.NewReader(fmt.Sprintf(`{"status":"success","id":%d,"track_id":"flood"}`, i)))
		took := time.Since(began)
		if err != nil {
			t.Errorf("valid delivery %d during the flood: %v", i, err)
			continue
		}
		resp.Body.Close()
		slowest = max(slowest, took)
		if resp.StatusCode != http.StatusOK || took > floodAnswer {
			t.Errorf("valid delivery %d during the flood answered %d in %s, want 200 within %s", i, resp.StatusCode, took, floodAnswer)
			continue
		}
		answered++
	}
	<-sent
	err, _ = failed.Load().(error)
	return slowest, answered, err
}

// waitSent waits until n requests of the flood have been taken; false
// when the flood ended first.
func waitSent(next *atomic.Int64, n int64, sent <-chan struct{}) bool {
	for next.Load() < n {
		select {
		case <-sent:
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return n < floodRequests
}

// floodPath is a 60 KB path with no token in it, percent-encoded escape
// sequences (clear screen, an OSC title) up front.
func floodPath() string {
	p := "/%1b[2J%1b]0;pwned%07/"
	return p + strings.Repeat("a", floodPathLen-len(p))
}

// sendRejected sends GETs for path on one keep-alive connection until
// floodRequests have been taken from next, reading each answer (404).
func sendRejected(addr, path string, next *atomic.Int64) error {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for next.Add(1) <= floodRequests {
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return err
			}
			conn, br = c, bufio.NewReader(c)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		status, keep, err := roundTrip(conn, br, req)
		if err != nil { // the server may close a connection: open another
			conn.Close()
			conn = nil
			continue
		}
		if status != http.StatusNotFound {
			return fmt.Errorf("a request with no token answered %d, want 404", status)
		}
		if !keep {
			conn.Close()
			conn = nil
		}
	}
	return nil
}

// roundTrip writes req and reads the answer's status line, headers and
// body (by its Content-Length): a lighter http.ReadResponse, since this
// side of the test is race-built and should leave the CPU to the server.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (status int, keepAlive bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if f := strings.Fields(string(line)); len(f) >= 2 {
		status, _ = strconv.Atoi(f[1])
	}
	length, keepAlive := 0, true
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		k, v, _ := strings.Cut(strings.TrimSpace(string(h)), ":")
		switch strings.ToLower(k) {
		case "":
			_, err := br.Discard(length)
			return status, keepAlive, err
		case "content-length":
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		case "connection":
			keepAlive = !strings.EqualFold(strings.TrimSpace(v), "close")
		}
	}
}

// buildMlab builds mlab as users get it, without -race: under `go test
// -race` this test binary is race-built, and the race detector multiplies
// both the cost of parsing 60 KB request lines (about tenfold) and the
// RSS (its shadow memory), which are what the test measures. After `go
// vet ./...` or `go build` (CI runs vet first) the packages are cached
// and this is a link.
func buildMlab(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build mlab with")
	}
	bin := filepath.Join(t.TempDir(), "mlab")
	began := time.Now()
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built mlab in %s", time.Since(began).Round(time.Millisecond))
	return bin
}

// fullPipe returns a pipe whose buffer is already full: a write to w
// blocks until someone reads r, and nobody will.
func fullPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		w.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := w.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	w.SetWriteDeadline(time.Time{})
	return r, w
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := loopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// waitListening waits until hook answers a GET 200 (listen's readiness
// answer), failing if the process exits first.
func waitListening(t *testing.T, hook string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("mlab listen exited before listening: %v", err)
		default:
		}
		if resp, err := http.Get(hook); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("mlab listen not answering on %s after 20s", hook)
}

// rssWatch samples a process's memory while it runs.
type rssWatch struct {
	done   chan struct{}
	hwm    chan int64
	killed atomic.Bool
	peak   atomic.Int64 // the highest VmRSS sampled
}

// watchRSS samples pid's RSS every 50 ms and calls kill if it passes
// limit (so a runaway cannot take the machine down).
func watchRSS(pid int, limit int64, kill func() error) *rssWatch {
	w := &rssWatch{done: make(chan struct{}), hwm: make(chan int64, 1)}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				w.hwm <- procStatus(pid, "VmHWM")
				return
			case <-tick.C:
				rss := procStatus(pid, "VmRSS")
				w.peak.Store(max(w.peak.Load(), rss))
				if rss > limit && !w.killed.Swap(true) {
					kill()
				}
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the peak RSS (VmHWM) in bytes, and
// whether the process was killed for passing the limit (then the peak is
// the highest sample).
func (w *rssWatch) stop() (int64, bool) {
	close(w.done)
	hwm := <-w.hwm
	if w.killed.Load() {
		return w.peak.Load(), true
	}
	return hwm, false
}

// procStatus reads one "kB" field of /proc/PID/status, in bytes; 0 if it
// cannot be read.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
