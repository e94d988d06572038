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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts.Setenv(args[0], fmt.Sprint(port))
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
