package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openT(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// lines returns the log's raw lines (without the final empty one).
func lines(t *testing.T, j *Journal) []string {
	t.Helper()
	data, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// checkAllLinesValid fails unless every line of the log is one complete
// JSON entry.
func checkAllLinesValid(t *testing.T, j *Journal) int {
	t.Helper()
	data, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("log does not end in a newline: %q", data[max(0, len(data)-40):])
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID == "" {
			t.Fatalf("line %d is not a complete entry (%v): %q", n+1, err, sc.Text())
		}
		n++
	}
	return n
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	j := openT(t, dir)
	if j.Dir() != dir || j.Path() != filepath.Join(dir, LogName) {
		t.Fatalf("dir %s path %s", j.Dir(), j.Path())
	}
	if runtime.GOOS == "windows" {
		return
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, j.Path(): 0o600, filepath.Join(dir, LockName): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", path, got, want)
		}
	}
	// A second Open of an existing journal keeps its content.
	if err := j.Add(Entry{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	j2 := openT(t, dir)
	if _, err := j2.Get("1"); err != nil {
		t.Fatal(err)
	}
}

func TestAddGet(t *testing.T) {
	j := openT(t, t.TempDir())
	before := time.Now().Add(-time.Second)
	err := j.Add(Entry{ID: "134701497", TrackID: "mlab-abc", Endpoint: "text2img", Kind: "img",
		BaseURL: "https://modelslab.com", FetchURL: "https://modelslab.com/api/v6/images/fetch/134701497",
		Request: map[string]any{"prompt": "a lighthouse", "width": 512}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"134701497", "mlab-abc"} {
		e, err := j.Get(q)
		if err != nil {
			t.Fatalf("Get(%q): %v", q, err)
		}
		if e.ID != "134701497" || e.Status != StatusProcessing || e.Kind != "img" || e.Request["prompt"] != "a lighthouse" || e.Request["width"] != 512.0 {
			t.Fatalf("Get(%q) = %+v", q, e)
		}
		if e.SubmittedAt.Before(before) || e.UpdatedAt.Before(before) || !e.FinishedAt.IsZero() {
			t.Fatalf("times: %+v", e)
		}
	}
	if _, err := j.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(nope) = %v, want ErrNotFound", err)
	}
	if _, err := j.Get(""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(\"\") = %v, want ErrNotFound", err)
	}
	if err := j.Add(Entry{}); err == nil {
		t.Fatal("Add without an id succeeded")
	}
	// A given SubmittedAt and Status are kept.
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := j.Add(Entry{ID: "2", SubmittedAt: at, Status: StatusSuccess}); err != nil {
		t.Fatal(err)
	}
	e, _ := j.Get("2")
	if !e.SubmittedAt.Equal(at) || e.Status != StatusSuccess {
		t.Fatalf("%+v", e)
	}
	if got := checkAllLinesValid(t, j); got != 2 {
		t.Fatalf("%d lines, want 2", got)
	}
	// finished_at is omitted while zero.
	if strings.Contains(lines(t, j)[0], "finished_at") {
		t.Fatalf("zero finished_at written: %s", lines(t, j)[0])
	}
}

func TestKeyNeverStored(t *testing.T) {
	j := openT(t, t.TempDir())
	const secret = "sk-SECRET-9f8e7d6c"
	req := map[string]any{"key": secret, "prompt": "p"}
	err := j.Add(Entry{ID: "7", TrackID: "t7", BaseURL: "https://user:" + secret + "@modelslab.com/", Request: req})
	if err != nil {
		t.Fatal(err)
	}
	if req["key"] != secret {
		t.Fatal("Add changed the caller's request map")
	}
	err = j.Update("7", func(e *Entry) {
		e.Request["key"] = secret // an update must not bring it back
		e.Request["Key"] = secret
		e.Status = StatusSuccess
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(j.Path())
	if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(`"key"`)) {
		t.Fatalf("key stored:\n%s", data)
	}
	e, _ := j.Get("7")
	if e.Request["prompt"] != "p" || e.BaseURL != "https://modelslab.com/" {
		t.Fatalf("%+v", e)
	}
}

func TestLongRequestStringsCut(t *testing.T) {
	j := openT(t, t.TempDir())
	big := strings.Repeat("A", 1<<20)
	if err := j.Add(Entry{ID: "1", Request: map[string]any{"init_image": big, "prompt": "p"}}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(j.Path())
	if st.Size() > 4*MaxRequestString {
		t.Fatalf("log is %d bytes", st.Size())
	}
	e, _ := j.Get("1")
	s := e.Request["init_image"].(string)
	if !strings.HasPrefix(s, strings.Repeat("A", MaxRequestString)) || !strings.Contains(s, "1048576 bytes") {
		t.Fatalf("cut value %q", s[MaxRequestString-4:])
	}
}

func TestUpdate(t *testing.T) {
	j := openT(t, t.TempDir())
	if err := j.Add(Entry{ID: "9", TrackID: "t9", Kind: "img"}); err != nil {
		t.Fatal(err)
	}
	added, _ := j.Get("9")
	time.Sleep(2 * time.Millisecond)
	fin := time.Now().UTC()
	err := j.Update("9", func(e *Entry) {
		e.Status = StatusSuccess
		e.Output = []string{"https://x/1.png"}
		e.Files = []string{"out/1.png"}
		e.Via = "webhook"
		e.FinishedAt = fin
		e.ID = "hijack" // restored
		e.TrackID = "hijack"
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := j.Get("t9")
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "9" || e.Status != StatusSuccess || e.Via != "webhook" || len(e.Files) != 1 || !e.FinishedAt.Equal(fin) || e.Kind != "img" {
		t.Fatalf("%+v", e)
	}
	if !e.UpdatedAt.After(added.UpdatedAt) || !e.SubmittedAt.Equal(added.SubmittedAt) {
		t.Fatalf("times: added %+v now %+v", added, e)
	}
	if _, err := j.Get("hijack"); !errors.Is(err, ErrNotFound) {
		t.Fatal("Update changed the identity")
	}
	if n := len(lines(t, j)); n != 2 {
		t.Fatalf("%d records, want 2 (append-only)", n)
	}
	if l, _ := j.List(Filter{}); len(l) != 1 {
		t.Fatalf("List has %d entries, want 1 (last wins)", len(l))
	}
	called := false
	if err := j.Update("nope", func(*Entry) { called = true }); !errors.Is(err, ErrNotFound) || called {
		t.Fatalf("Update(nope) = %v, called %v", err, called)
	}
	// Update by track id works too.
	if err := j.Update("t9", func(e *Entry) { e.Message = "by track" }); err != nil {
		t.Fatal(err)
	}
	if e, _ := j.Get("9"); e.Message != "by track" {
		t.Fatalf("%+v", e)
	}
}

// A sandbox hands out the same id on every start: jobs with one id and
// different track ids are different jobs.
func TestSameIDDifferentTrackIDs(t *testing.T) {
	j := openT(t, t.TempDir())
	t0 := time.Now().UTC().Add(-time.Minute)
	j.Add(Entry{ID: "134701497", TrackID: "a", SubmittedAt: t0})
	j.Add(Entry{ID: "134701497", TrackID: "b", SubmittedAt: t0.Add(time.Second)})
	l, _ := j.List(Filter{})
	if len(l) != 2 || l[0].TrackID != "b" {
		t.Fatalf("%+v", l)
	}
	if e, _ := j.Get("134701497"); e.TrackID != "b" {
		t.Fatalf("Get by id returned %s, want the newest (b)", e.TrackID)
	}
	if err := j.Update("a", func(e *Entry) { e.Status = StatusFailed }); err != nil {
		t.Fatal(err)
	}
	if e, _ := j.Get("a"); e.Status != StatusFailed {
		t.Fatalf("%+v", e)
	}
	if e, _ := j.Get("b"); e.Status != StatusProcessing {
		t.Fatalf("update hit the wrong job: %+v", e)
	}
}

func TestListFilter(t *testing.T) {
	j := openT(t, t.TempDir())
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	add := func(id, kind, status, batch string, ago time.Duration) {
		t.Helper()
		if err := j.Add(Entry{ID: id, TrackID: "t" + id, Kind: kind, Status: status, BatchID: batch, SubmittedAt: base.Add(-ago)}); err != nil {
			t.Fatal(err)
		}
	}
	// recorded out of submit order on purpose
	add("3", "img", "success", "b1", 3*time.Hour)
	add("1", "video", "processing", "", 1*time.Hour)
	add("5", "img", "failed", "b1", 5*time.Hour)
	add("2", "img", "processing", "b1", 2*time.Hour)
	add("4", "audio", "success", "", 4*time.Hour)
	j.Update("2", func(e *Entry) { e.Status = StatusSuccess })

	ids := func(f Filter) string {
		t.Helper()
		l, err := j.List(f)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range l {
			s = append(s, e.ID)
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		f    Filter
		want string
	}{
		{Filter{}, "1,2,3,4,5"},
		{Filter{Limit: 2}, "1,2"},
		{Filter{Limit: -1}, "1,2,3,4,5"},
		{Filter{Status: "success"}, "2,3,4"},
		{Filter{Status: "processing"}, "1"},
		{Filter{Kind: "img"}, "2,3,5"},
		{Filter{Kind: "img", Status: "success", Limit: 1}, "2"},
		{Filter{BatchID: "b1"}, "2,3,5"},
		{Filter{Since: base.Add(-3 * time.Hour)}, "1,2,3"},
		{Filter{Since: base.Add(time.Hour)}, ""},
		{Filter{Kind: "3d"}, ""},
	}
	for _, c := range cases {
		if got := ids(c.f); got != c.want {
			t.Errorf("List(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
	// Equal submit times: the one recorded later comes first.
	j2 := openT(t, t.TempDir())
	for _, id := range []string{"x", "y", "z"} {
		j2.Add(Entry{ID: id, SubmittedAt: base})
	}
	l, _ := j2.List(Filter{})
	if got := []string{l[0].ID, l[1].ID, l[2].ID}; !slices.Equal(got, []string{"z", "y", "x"}) {
		t.Fatalf("tie order %v", got)
	}
}

func TestPrune(t *testing.T) {
	j := openT(t, t.TempDir())
	now := time.Now().UTC()
	old, recent := now.Add(-10*24*time.Hour), now.Add(-time.Hour)
	j.Add(Entry{ID: "old-ok", Status: StatusSuccess, SubmittedAt: old})
	j.Add(Entry{ID: "old-failed", SubmittedAt: old})
	j.Update("old-failed", func(e *Entry) { e.Status = StatusFailed })
	j.Add(Entry{ID: "old-running", SubmittedAt: old}) // never pruned: it may still be waited for
	j.Add(Entry{ID: "new-ok", Status: StatusSuccess, SubmittedAt: recent})
	j.Add(Entry{ID: "new-running", SubmittedAt: recent})
	j.Update("new-running", func(e *Entry) { e.Message = "still" })
	// a torn tail, dropped by the compaction
	appendRaw(t, j, `{"id":"torn","sta`)

	n, err := j.Prune(now.Add(-7 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	l, _ := j.List(Filter{})
	var got []string
	for _, e := range l {
		got = append(got, e.ID)
	}
	slices.Sort(got)
	if want := []string{"new-ok", "new-running", "old-running"}; !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	if e, _ := j.Get("new-running"); e.Message != "still" {
		t.Fatalf("compaction lost the newest record: %+v", e)
	}
	if c := checkAllLinesValid(t, j); c != 3 {
		t.Fatalf("%d lines after compaction, want 3", c)
	}
	if runtime.GOOS != "windows" {
		if st, _ := os.Stat(j.Path()); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode after prune %o", st.Mode().Perm())
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(j.Dir(), ".journal-*")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	// Still appendable; pruning again removes nothing.
	if err := j.Add(Entry{ID: "after"}); err != nil {
		t.Fatal(err)
	}
	if n, err := j.Prune(now.Add(-7 * 24 * time.Hour)); n != 0 || err != nil {
		t.Fatalf("second prune: %d %v", n, err)
	}
	if c := checkAllLinesValid(t, j); c != 4 {
		t.Fatalf("%d lines, want 4", c)
	}
	// Pruning everything finished.
	if n, _ := j.Prune(now.Add(time.Hour)); n != 1 {
		t.Fatalf("pruned %d, want 1 (new-ok)", n)
	}
}

// appendRaw appends bytes to the log behind the journal's back.
func appendRaw(t *testing.T, j *Journal, s string) {
	t.Helper()
	f, err := os.OpenFile(j.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// A kill -9 in the middle of a write leaves a torn last line: it is skipped,
// and the next Add starts on a fresh line, so the file stays readable.
func TestTornFinalLine(t *testing.T) {
	j := openT(t, t.TempDir())
	j.Add(Entry{ID: "1", TrackID: "t1"})
	j.Add(Entry{ID: "2", TrackID: "t2"})
	full, _ := encode(&Entry{ID: "3", TrackID: "t3", Request: map[string]any{"prompt": "torn"}})
	appendRaw(t, j, string(full[:len(full)/2]))

	l, err := j.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 {
		t.Fatalf("%d entries with a torn tail, want 2", len(l))
	}
	if err := j.Add(Entry{ID: "4", TrackID: "t4"}); err != nil {
		t.Fatal(err)
	}
	if err := j.Update("2", func(e *Entry) { e.Status = StatusSuccess }); err != nil {
		t.Fatal(err)
	}
	l, _ = j.List(Filter{})
	if len(l) != 3 {
		t.Fatalf("%d entries after the next Add, want 3: %+v", len(l), l)
	}
	if e, err := j.Get("4"); err != nil || e.TrackID != "t4" {
		t.Fatalf("the record after the torn line: %v %+v", err, e)
	}
	if e, _ := j.Get("2"); e.Status != StatusSuccess {
		t.Fatalf("%+v", e)
	}
	// Exactly one bad line (the torn one, now on a line of its own).
	ls := lines(t, j)
	bad := 0
	for _, line := range ls {
		var e Entry
		if json.Unmarshal([]byte(line), &e) != nil {
			bad++
		}
	}
	if bad != 1 || len(ls) != 5 {
		t.Fatalf("%d lines, %d bad:\n%s", len(ls), bad, strings.Join(ls, "\n"))
	}
}

// A complete record whose '\n' never made it to disk still counts, and the
// next record does not merge with it.
func TestCompleteLastLineWithoutNewline(t *testing.T) {
	j := openT(t, t.TempDir())
	full, _ := encode(&Entry{ID: "1", Status: StatusProcessing})
	appendRaw(t, j, strings.TrimSuffix(string(full), "\n"))
	if e, err := j.Get("1"); err != nil || e.ID != "1" {
		t.Fatalf("%v %+v", err, e)
	}
	j.Add(Entry{ID: "2"})
	if c := checkAllLinesValid(t, j); c != 2 {
		t.Fatalf("%d lines", c)
	}
}

// The newest record of a job torn after its id: the one before it stands.
func TestTornNewestRecordFallsBack(t *testing.T) {
	j := openT(t, t.TempDir())
	j.Add(Entry{ID: "1", TrackID: "t1"})
	j.Update("1", func(e *Entry) { e.Status = StatusSuccess; e.Files = []string{"a.png"} })
	next, _ := encode(&Entry{ID: "1", TrackID: "t1", Status: StatusFailed, Message: "should not be seen"})
	appendRaw(t, j, string(next[:len(next)-20]))
	e, err := j.Get("1")
	if err != nil || e.Status != StatusSuccess || len(e.Files) != 1 {
		t.Fatalf("%v %+v", err, e)
	}
	if l, _ := j.List(Filter{}); len(l) != 1 {
		t.Fatalf("%+v", l)
	}
}

// Records the fast path cannot read (escaped ids, another field order)
// still follow last-wins.
func TestUnusualRecords(t *testing.T) {
	j := openT(t, t.TempDir())
	odd := `a"b\c` + "\n\t<&>é"
	j.Add(Entry{ID: odd, TrackID: odd})
	j.Update(odd, func(e *Entry) { e.Status = StatusSuccess })
	appendRaw(t, j, `{"status":"failed","track_id":"x","id":"2","submitted_at":"2020-01-01T00:00:00Z"}`+"\n")
	appendRaw(t, j, `{"track_id":"x","id":"2","status":"success","submitted_at":"2020-01-01T00:00:00Z"}`+"\n")
	l, err := j.List(Filter{})
	if err != nil || len(l) != 2 {
		t.Fatalf("%v %+v", err, l)
	}
	if l[0].ID != odd || l[0].Status != StatusSuccess || l[1].ID != "2" || l[1].Status != StatusSuccess {
		t.Fatalf("%+v", l)
	}
}

func TestGarbageLinesSkipped(t *testing.T) {
	j := openT(t, t.TempDir())
	appendRaw(t, j, "not json\n\n[1,2]\n{\"id\":\"\"}\n{\"track_id\":\"no id\"}\n")
	j.Add(Entry{ID: "ok"})
	l, err := j.List(Filter{})
	if err != nil || len(l) != 1 || l[0].ID != "ok" {
		t.Fatalf("%v %+v", err, l)
	}
}

func TestClosed(t *testing.T) {
	j := openT(t, t.TempDir())
	j.Close()
	if err := j.Add(Entry{ID: "1"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if _, err := j.List(Filter{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close: %v", err)
	}
}

// 20 goroutines append at once, half through one shared Journal and half
// through their own: 20 complete entries, every line whole.
func TestConcurrentGoroutines(t *testing.T) {
	dir := t.TempDir()
	shared := openT(t, dir)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			j := shared
			if i%2 == 1 {
				var err error
				if j, err = Open(dir); err != nil {
					errs <- err
					return
				}
				defer j.Close()
			}
			errs <- j.Add(Entry{ID: fmt.Sprint(i), TrackID: fmt.Sprint("t", i), Request: map[string]any{"prompt": strings.Repeat("x", 5000)}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := checkAllLinesValid(t, shared); c != 20 {
		t.Fatalf("%d lines, want 20", c)
	}
	if l, _ := shared.List(Filter{}); len(l) != 20 {
		t.Fatalf("%d entries, want 20", len(l))
	}
}

// Updates of one entry racing each other and racing Adds: no update is
// lost (each is a read-modify-append under the exclusive lock).
func TestUpdatesRacingAdds(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	if err := j.Add(Entry{ID: "counter", TrackID: "c"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			own, err := Open(dir) // a separate Journal: the OS lock must do the work
			if err != nil {
				errs <- err
				return
			}
			defer own.Close()
			errs <- own.Update("counter", func(e *Entry) {
				e.Output = append(e.Output, fmt.Sprint(i))
				runtime.Gosched() // widen the read-modify-write window
			})
		})
		wg.Go(func() { errs <- j.Add(Entry{ID: fmt.Sprint("job-", i)}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	e, err := j.Get("counter")
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(e.Output)
	slices.Sort(got)
	if len(slices.Compact(got)) != n {
		t.Fatalf("%d of %d updates survived: %v", len(e.Output), n, e.Output)
	}
	if l, _ := j.List(Filter{}); len(l) != n+1 {
		t.Fatalf("%d entries, want %d", len(l), n+1)
	}
	checkAllLinesValid(t, j)
}

// Prune rewrites the file while others append: no append is lost (the lock
// lives on a file that is never renamed, and appenders open the log only
// under it).
func TestPruneRacingAdds(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	old := time.Now().Add(-48 * time.Hour)
	for i := range 50 {
		j.Add(Entry{ID: fmt.Sprint("old-", i), Status: StatusSuccess, SubmittedAt: old})
	}
	var wg sync.WaitGroup
	const n = 40
	errs := make(chan error, n+5)
	for i := range n {
		wg.Go(func() {
			own, err := Open(dir)
			if err != nil {
				errs <- err
				return
			}
			errs <- own.Add(Entry{ID: fmt.Sprint("new-", i)})
		})
	}
	pruned := make(chan int, 5)
	for range 5 {
		wg.Go(func() {
			own, _ := Open(dir)
			c, err := own.Prune(time.Now().Add(-time.Hour))
			errs <- err
			pruned <- c
		})
	}
	wg.Wait()
	close(errs)
	close(pruned)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for c := range pruned {
		total += c
	}
	if total != 50 {
		t.Fatalf("pruned %d in all, want 50", total)
	}
	l, _ := j.List(Filter{})
	if len(l) != n {
		t.Fatalf("%d entries after concurrent prunes, want %d", len(l), n)
	}
	checkAllLinesValid(t, j)
}

// TestIntents: a job is written down before its submit leaves; the intent
// is completed by the id, or forgotten when the submit never reached the
// API; a crash in between leaves it visible as "submitting" (issue 13).
func TestIntents(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	at, err := j.AddIntent(Entry{TrackID: "mlab-a", Endpoint: "text2img", Kind: "img", BatchID: "b-1", Line: 3, Request: map[string]any{"prompt": "x", "key": "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := j.Get("mlab-a")
	if err != nil || e.ID != "" || e.Status != StatusSubmitting || e.Finished() || e.Line != 3 || e.Request["key"] != nil {
		t.Fatalf("intent = %+v, %v", e, err)
	}
	if err := j.Submitted("mlab-a", at, "77", "https://api.test/fetch/77", nil); err != nil {
		t.Fatal(err)
	}
	all, _ := j.List(Filter{})
	if len(all) != 1 || all[0].ID != "77" || all[0].Status != StatusProcessing || all[0].FetchURL == "" || all[0].Line != 3 || !all[0].SubmittedAt.Equal(at) {
		t.Fatalf("after Submitted: %+v", all)
	}
	if err := j.Submitted("mlab-a", at, "78", "", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Submitted of one intent: %v", err)
	}

	// A forgotten intent is gone; an open one survives a reopen and Prune.
	at2, _ := j.AddIntent(Entry{TrackID: "mlab-b", Endpoint: "text2img"})
	if err := j.Forget("mlab-b", at2); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Get("mlab-b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("forgotten intent still found: %v", err)
	}
	j.AddIntent(Entry{TrackID: "mlab-c", Endpoint: "text2img", BatchID: "b-1", Line: 4})
	j.Close()
	j = openT(t, dir)
	if _, err := j.Prune(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	open, _ := j.List(Filter{BatchID: "b-1"})
	var states []string
	for _, e := range open {
		states = append(states, e.ID+"/"+e.TrackID+"/"+e.Status)
	}
	if len(open) != 2 || !slices.Contains(states, "/mlab-c/submitting") || !slices.Contains(states, "77/mlab-a/processing") {
		t.Fatalf("after reopen and prune: %v", states)
	}
	if err := j.Add(Entry{TrackID: "mlab-d"}); err == nil {
		t.Fatal("Add without an id outside an intent must fail")
	}
}
