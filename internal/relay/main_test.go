package relay

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/relay/redistest"
)

const skipLine = redistest.SkipLine

var testRedis = redistest.Addr()

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

// startRedis starts a redis-server of the test's own (redistest.Start).
func startRedis(t *testing.T, extra ...string) *redistest.Server { return redistest.Start(t, extra...) }

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
