// Package redistest gives tests a real Redis: the shared server .ci/run
// starts (MLAB_TEST_REDIS=host:port), or a redis-server child of the test's
// own that it may stop and restart (faults). Without MLAB_TEST_REDIS the
// tests skip with one line saying how to run them; under CI=true they fail.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SkipLine says how to run the Redis tests.
const SkipLine = "set MLAB_TEST_REDIS=host:port (a redis-server) to run the relay tests; .ci/run starts one"

// Env is the variable that names the shared test server.
const Env = "MLAB_TEST_REDIS"

// Addr is the shared test server's host:port ("" when there is none).
func Addr() string { return strings.TrimSpace(os.Getenv(Env)) }

// Need returns the shared test server's address; without one it skips the
// test (CI=true: fails it).
func Need(t testing.TB) string {
	t.Helper()
	a := Addr()
	if a == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no " + Env + ": " + SkipLine)
		}
		t.Skip(SkipLine)
	}
	return a
}

// DB returns a redis:// URL on database db of the shared server, emptied
// before the test and after it.
func DB(t testing.TB, db int) string {
	t.Helper()
	u := fmt.Sprintf("redis://%s/%d", Need(t), db)
	Flush(t, u)
	t.Cleanup(func() { Flush(t, u) })
	return u
}

// Flush empties the database rawURL names.
func Flush(t testing.TB, rawURL string) {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush %s: %v", rawURL, err)
	}
}

// Server is a redis-server child of the test, on a port of its own,
// without persistence: a restart loses everything.
type Server struct {
	port int
	args []string
	cmd  *exec.Cmd
}

// Start starts a redis-server of the test's own (extra: more arguments,
// "--requirepass", "pw" say; "{port}" in them is its port) and stops it at
// the test's end. Like every Redis test it needs MLAB_TEST_REDIS, and
// redis-server on PATH.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	Need(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not on PATH: .ci/run installs it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server is not on PATH (apt-get install -y redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{port: port, args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning"}}
	for _, a := range extra {
		s.args = append(s.args, strings.ReplaceAll(a, "{port}", strconv.Itoa(port)))
	}
	s.args = append([]string{bin}, s.args...)
	s.Up(t)
	t.Cleanup(s.Kill)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is a redis:// URL on its database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Up starts the server (again) and waits until it takes connections; t
// (the calling test) fails if it does not.
func (s *Server) Up(t testing.TB) {
	t.Helper()
	s.cmd = &exec.Cmd{Path: s.args[0], Args: s.args}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not come up: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (no goodbye to its clients) and
// waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Signal sends sig to the server (SIGSTOP: it accepts connections and
// answers nothing; SIGCONT: it answers again).
func (s *Server) Signal(sig os.Signal) {
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Restart kills the server and starts it again, empty.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.Up(t)
}
