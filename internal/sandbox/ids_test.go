package sandbox

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestMain fixes the first job id of every test Server at firstID (the
// tests name ids), except where a test draws one (TestRandomFirstID).
func TestMain(m *testing.M) {
	random := randomFirstID
	drawFirstID = random
	randomFirstID = func() int64 { return firstID }
	os.Exit(m.Run())
}

// drawFirstID is the real random draw, for TestRandomFirstID.
var drawFirstID func() int64

func TestRandomFirstID(t *testing.T) {
	seen := map[int64]bool{}
	for range 20 {
		id := drawFirstID()
		if n := len(strconv.FormatInt(id, 10)); n != 9 {
			t.Fatalf("first id %d has %d digits, want 9", id, n)
		}
		seen[id] = true
	}
	if len(seen) < 15 {
		t.Fatalf("20 draws gave %d distinct first ids", len(seen))
	}
}

// TestFirstID: Options.FirstID fixes the ids; without it each Server
// draws its own, and the fates of jobs follow their rank, not their id.
func TestFirstID(t *testing.T) {
	s := New(Options{FirstID: 42, Delay: time.Hour})
	defer s.Close()
	if s.nextID != 42 {
		t.Fatalf("next id %d, want 42", s.nextID)
	}
	saved := randomFirstID
	defer func() { randomFirstID = saved }()
	randomFirstID = drawFirstID
	a, b := New(Options{Delay: time.Hour}), New(Options{Delay: time.Hour})
	defer a.Close()
	defer b.Close()
	if a.firstID == b.firstID {
		t.Fatalf("two sandboxes share the first id %d", a.firstID)
	}
	// The same seed, other first ids: the k-th jobs run as long.
	durations := func(first int64) []time.Duration {
		s, ts := newSandbox(t, Options{Delay: time.Second, DelayMax: time.Hour, Seed: 7, FirstID: first})
		var out []time.Duration
		for range 4 {
			a := post(t, ts.URL+"/api/v6/images/text2img", map[string]any{"key": "k", "prompt": "x"}, nil)
			created, done, _, ok := s.JobTimes(intID(t, a.body["id"]))
			if !ok {
				t.Fatalf("no job for %s", a.raw)
			}
			out = append(out, done.Sub(created))
		}
		return out
	}
	x, y := durations(500_000_000), durations(0)
	for k := range x {
		if x[k] != y[k] {
			t.Fatalf("job %d ran %s and %s with the same seed", k, x[k], y[k])
		}
	}
}
