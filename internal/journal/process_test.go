package journal

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// helperEnv makes the test binary act as one mlab process writing to the
// journal (see TestHelperProcess).
const (
	helperDirEnv = "MLAB_JOURNAL_TEST_HELPER_DIR"
	helperNumEnv = "MLAB_JOURNAL_TEST_HELPER_N"
)

// TestHelperProcess is not a test: run by TestProcesses in a child process,
// it waits for the start signal, then adds its own job, updates the shared
// "counter" job and finishes its own job, as mlab does.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	n := os.Getenv(helperNumEnv)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "no start signal")
			os.Exit(2)
		}
		time.Sleep(time.Millisecond)
	}
	j, err := Open(dir)
	if err == nil {
		err = j.Add(Entry{ID: "job-" + n, TrackID: "track-" + n, Kind: "img", Endpoint: "text2img",
			Request: map[string]any{"prompt": "process " + n, "key": "secret"}})
	}
	if err == nil {
		err = j.Update("counter", func(e *Entry) { e.Output = append(e.Output, n) })
	}
	if err == nil {
		err = j.Update("job-"+n, func(e *Entry) {
			e.Status = StatusSuccess
			e.FinishedAt = time.Now().UTC()
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// 20 separate processes write one journal at once: 20 complete entries,
// every one finished, and the shared entry saw all 20 updates.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	if !osLocking {
		t.Skip("no OS file lock on " + os.Getenv("GOOS"))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j := openT(t, dir)
	if err := j.Add(Entry{ID: "counter"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	cmds := make([]*exec.Cmd, n)
	outs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		c := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
		c.Env = append(os.Environ(), helperDirEnv+"="+dir, helperNumEnv+"="+strconv.Itoa(i))
		cmds[i] = c
	}
	errs := make([]error, n)
	for i, c := range cmds {
		wg.Go(func() { outs[i], errs[i] = c.CombinedOutput() })
	}
	time.Sleep(200 * time.Millisecond) // let them start and spin on the signal
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	if c := checkAllLinesValid(t, j); c != 1+3*n {
		t.Fatalf("%d records, want %d", c, 1+3*n)
	}
	l, err := j.List(Filter{Kind: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != n {
		t.Fatalf("%d entries, want %d", len(l), n)
	}
	for _, e := range l {
		if e.Status != StatusSuccess || e.Request["prompt"] == nil || e.Request["key"] != nil {
			t.Fatalf("incomplete entry %+v", e)
		}
	}
	e, err := j.Get("counter")
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(e.Output)
	slices.Sort(got)
	if len(slices.Compact(got)) != n {
		t.Fatalf("%d of %d cross-process updates survived: %v", len(e.Output), n, e.Output)
	}
	if _, err := j.Get("job-0"); errors.Is(err, ErrNotFound) {
		t.Fatal("job-0 missing")
	}
}
