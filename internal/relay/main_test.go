package relay

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

	"github.com/mlabcli/mlab/internal/ids"
)

const skipLine = "set MLAB_TEST_REDIS=host:port (a redis-server) to run the relay tests; .ci/run starts one"

var testRedis = strings.TrimSpace(os.Getenv("MLAB_TEST_REDIS"))

func TestMain(m *testing.M) {
	code := m.Run()
	if testRedis == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "FAIL: CI=true and no MLAB_TEST_REDIS: "+skipLine)
			code = 1
		} else {
			fmt.Fprintln(os.Stderr, "relay: skipped the Redis tests: "+skipLine)
		}
	}
	os.Exit(code)
}

// needRedis returns the shared test server's address, or skips.
func needRedis(t *testing.T) string {
	t.Helper()
	if testRedis == "" {
		t.Skip("no MLAB_TEST_REDIS")
	}
	return testRedis
}

// newBroker opens a broker on addr with a key prefix of its own, and
// removes the prefix's keys at the end.
func newBroker(t *testing.T, rawURL string) *Redis {
	t.Helper()
	b, err := OpenRedis(rawURL, RedisOptions{Prefix: "mlabtest:" + ids.Hex(6) + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		iter := b.Client().Scan(ctx, 0, b.Prefix()+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			b.Client().Del(ctx, keys...)
		}
		b.Close()
	})
	return b
}

func sharedBroker(t *testing.T) *Redis {
	return newBroker(t, "redis://"+needRedis(t)+"/0")
}

// redisServer is a redis-server child of the test, on a port of its own,
// without persistence: a restart loses everything.
type redisServer struct {
	t    *testing.T
	port int
	args []string
	cmd  *exec.Cmd
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// startRedis starts a redis-server of the test's own (extra: more
// arguments, --requirepass PW say; "{port}" in them is its port). It needs MLAB_TEST_REDIS (as every
// Redis test) and redis-server on PATH.
func startRedis(t *testing.T, extra ...string) *redisServer {
	t.Helper()
	needRedis(t)
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
	s := &redisServer{t: t, port: port, args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning"}}
	for _, a := range extra {
		s.args = append(s.args, strings.ReplaceAll(a, "{port}", strconv.Itoa(port)))
	}
	s.args = append([]string{bin}, s.args...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = &exec.Cmd{Path: s.args[0], Args: s.args}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not come up: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server (SIGKILL: no goodbye to its clients) and waits.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

func (s *redisServer) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// eventually polls cond until it holds, or fails after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
