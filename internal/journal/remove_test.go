package journal

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	now := time.Now().UTC()
	j.Add(Entry{ID: "a", TrackID: "ta", Status: StatusSuccess, SubmittedAt: now.Add(-3 * time.Hour)})
	j.Add(Entry{ID: "b", TrackID: "tb", SubmittedAt: now.Add(-2 * time.Hour)}) // processing: Remove takes it too
	j.Update("b", func(e *Entry) { e.Message = "newest" })
	// the same id on another API (another track id) stays
	j.Add(Entry{ID: "a", TrackID: "other", Status: StatusFailed, SubmittedAt: now.Add(-time.Hour)})
	// an intent completed by an id: its line goes with the job
	at, err := j.AddIntent(Entry{TrackID: "tc", Endpoint: "text2img"})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Submitted("tc", at, "c", "", nil); err != nil {
		t.Fatal(err)
	}

	ea, err := j.Get("ta")
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := j.Get("b")
	ec, _ := j.Get("c")
	n, err := j.Remove(*ea, *eb, *ec, Entry{ID: "nosuch", TrackID: "x"})
	if err != nil || n != 3 {
		t.Fatalf("Remove = %d, %v; want 3", n, err)
	}
	l, _ := j.List(Filter{})
	var got []string
	for _, e := range l {
		got = append(got, e.ID+"/"+e.TrackID)
	}
	if want := []string{"a/other"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	if c := checkAllLinesValid(t, j); c != 1 {
		t.Fatalf("%d lines after Remove, want 1", c)
	}
	// Another Journal on the directory sees it; updates of a removed job
	// find nothing.
	j2 := openT(t, dir)
	if _, err := j2.Get("tb"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a removed job: %v", err)
	}
	if err := j2.Update("b", func(e *Entry) { e.Status = StatusSuccess }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of a removed job: %v", err)
	}
	// Nothing to remove: nothing rewritten, no error.
	if n, err := j.Remove(Entry{ID: "b", TrackID: "tb"}); n != 0 || err != nil {
		t.Fatalf("second Remove = %d, %v", n, err)
	}
}
