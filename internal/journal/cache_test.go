package journal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// canon is a journal as read, in a form two reads can be compared by: the
// visible records in file order, and the counts Prune decides by.
type canon struct {
	recs       []string
	lines, bad int
}

func (c canon) String() string {
	return fmt.Sprintf("lines %d bad %d\n%s", c.lines, c.bad, strings.Join(c.recs, "\n"))
}

func canonRecord(r *record) string {
	return fmt.Sprintf("seq=%d id=%q track=%q kind=%q status=%q batch=%q at=%d raw=%s",
		r.seq, r.ID, r.TrackID, r.Kind, r.Status, r.BatchID, r.SubmittedAt.UnixNano(), r.raw)
}

func canonState(s *state) canon {
	c := canon{lines: s.lines, bad: s.bad}
	for _, r := range s.visibleBySeq() {
		c.recs = append(c.recs, canonRecord(r))
	}
	return c
}

func canonSnapshot(s *snapshot) canon {
	c := canon{lines: s.lines, bad: s.bad}
	rs := slices.Clone(s.latest)
	slices.SortFunc(rs, func(a, b record) int { return a.seq - b.seq })
	for i := range rs {
		c.recs = append(c.recs, canonRecord(&rs[i]))
	}
	return c
}

func canonFound(r *record) string {
	if r == nil {
		return "<nil>"
	}
	return canonRecord(r)
}

// reference reads the log afresh, as every read did before the cache.
func reference(t *testing.T, j *Journal) *snapshot {
	t.Helper()
	data, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	return parse(data)
}

// sameAsFresh fails unless what j reads (through its cache) is what a
// fresh parse of the whole file gives, including what find picks for the
// given ids and the intents settle finds.
func sameAsFresh(t *testing.T, j *Journal, what string, ids []string, intents []intentKey) {
	t.Helper()
	ref := reference(t, j)
	want := canonSnapshot(ref)
	var got canon
	var found, foundIntents []string
	err := j.read(func(s *state) error {
		got = canonState(s)
		for _, id := range ids {
			found = append(found, canonFound(s.find(id, true)), canonFound(s.find(id, false)))
		}
		for _, in := range intents {
			foundIntents = append(foundIntents, canonFound(s.intent(in.track, in.at)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("%s: the cached read differs from a fresh parse\ncached:\n%s\nfresh:\n%s", what, got, want)
	}
	for i, id := range ids {
		for k, idFirst := range []bool{true, false} {
			if w := canonFound(ref.find(id, idFirst)); found[2*i+k] != w {
				t.Fatalf("%s: find(%q, %v) = %s, want %s", what, id, idFirst, found[2*i+k], w)
			}
		}
	}
	for i, in := range intents {
		// settle's search before the cache: the last visible intent that matches
		var w *record
		for k := range ref.latest {
			r := &ref.latest[k]
			if r.ID == "" && r.TrackID == in.track && r.SubmittedAt.Equal(in.at) {
				w = r
			}
		}
		if foundIntents[i] != canonFound(w) {
			t.Fatalf("%s: intent(%s, %v) = %s, want %s", what, in.track, in.at, foundIntents[i], canonFound(w))
		}
	}
}

type intentKey struct {
	track string
	at    time.Time
}

// sim drives random journal operations through two Journals on one
// directory (a and b: two processes, each with its own cache) and writes
// what crashed writers and other tools leave behind.
type sim struct {
	t       *testing.T
	rng     *rand.Rand
	a, b    *Journal
	weird   bool // write lines the cache cannot apply forward
	t0      time.Time
	ids     []string    // ids and track ids used so far
	jobs    [][2]string // (id, track id) of the jobs added
	intents []intentKey
	n       int
}

func (s *sim) pick() *Journal {
	if s.rng.IntN(3) == 0 {
		return s.b
	}
	return s.a
}

func (s *sim) at() time.Time {
	// few distinct submit times: ties in the order of the file matter
	return s.t0.Add(time.Duration(s.rng.IntN(6)) * time.Minute)
}

func (s *sim) id() string {
	if len(s.ids) > 0 && s.rng.IntN(4) == 0 {
		return s.ids[s.rng.IntN(len(s.ids))]
	}
	return fmt.Sprint("j", s.rng.IntN(30)) // ids repeat across tracks, as on a sandbox
}

func (s *sim) status() string {
	return []string{StatusProcessing, StatusSuccess, StatusFailed, ""}[s.rng.IntN(4)]
}

func (s *sim) entry() Entry {
	s.n++
	e := Entry{ID: s.id(), TrackID: fmt.Sprint("t", s.n), Kind: []string{"img", "video"}[s.rng.IntN(2)],
		Status: s.status(), SubmittedAt: s.at(), Request: map[string]any{"prompt": strings.Repeat("p", s.rng.IntN(300))}}
	if s.rng.IntN(3) == 0 {
		e.BatchID = "b1"
	}
	return e
}

// raw appends bytes behind the journals' backs.
func (s *sim) raw(b string) {
	f, err := os.OpenFile(s.a.Path(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b); err != nil {
		s.t.Fatal(err)
	}
}

// step does one random thing and returns its name.
func (s *sim) step() string {
	t := s.t
	ok := func(err error) {
		t.Helper()
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	switch op := s.rng.IntN(100); {
	case op < 20:
		e := s.entry()
		s.ids = append(s.ids, e.ID, e.TrackID)
		s.jobs = append(s.jobs, [2]string{e.ID, e.TrackID})
		ok(s.pick().Add(e))
		return "add"
	case op < 30:
		e := s.entry()
		at, err := s.pick().AddIntent(e)
		ok(err)
		s.intents = append(s.intents, intentKey{e.TrackID, at})
		s.ids = append(s.ids, e.TrackID)
		return "intent"
	case op < 40 && len(s.intents) > 0:
		in := s.intents[s.rng.IntN(len(s.intents))]
		id := s.id()
		s.ids = append(s.ids, id)
		ok(s.pick().Submitted(in.track, in.at, id, "https://api.test/fetch/"+id, func(e *Entry) { e.Message = "submitted" }))
		return "submitted"
	case op < 44 && len(s.intents) > 0:
		in := s.intents[s.rng.IntN(len(s.intents))]
		ok(s.pick().Forget(in.track, in.at))
		return "forget"
	case op < 64 && len(s.ids) > 0:
		id := s.ids[s.rng.IntN(len(s.ids))]
		st, msg := s.status(), fmt.Sprint("m", s.rng.IntN(1000))
		ok(s.pick().Update(id, func(e *Entry) {
			e.Status, e.Message = st, msg
			if s.rng.IntN(8) == 0 {
				e.SubmittedAt = s.at() // completes or uncovers an intent of another time
			}
		}))
		return "update"
	case op < 67:
		_, err := s.pick().Prune(s.t0.Add(time.Duration(s.rng.IntN(8)) * time.Minute))
		ok(err)
		return "prune"
	case op < 80:
		// a crashed writer: a record cut anywhere, of a known job or a new one
		e := s.entry()
		if len(s.ids) > 0 && s.rng.IntN(2) == 0 {
			e.ID = s.ids[s.rng.IntN(len(s.ids))]
			e.TrackID = s.ids[s.rng.IntN(len(s.ids))]
		}
		e.UpdatedAt = time.Now().UTC()
		line, _ := encode(&e)
		cut := 1 + s.rng.IntN(len(line)-1)
		s.raw(string(line[:cut]))
		switch s.rng.IntN(4) {
		case 0: // another tool finishes the line later
			s.raw(string(line[cut:]))
			return "torn+completed"
		case 1:
			s.raw("\n")
			return "torn+newline"
		}
		return "torn"
	case op < 86:
		s.raw([]string{"not json\n", "\n\n", "  \t \n", `{"id":""}` + "\n", "[1,2]\n", `{"track_id":"no id"}` + "\n", "\r\n"}[s.rng.IntN(7)])
		return "garbage"
	case op < 92:
		// records the fast path cannot read: escaped ids, another field order
		id := s.id()
		s.ids = append(s.ids, id, `q"`+id)
		at := s.at().Format(time.RFC3339Nano)
		s.raw([]string{
			fmt.Sprintf(`{"id":"q\"%s","track_id":"tq","status":"processing","submitted_at":%q}`+"\n", id, at),
			fmt.Sprintf(`{"status":"success","track_id":"tq2","id":%q,"submitted_at":%q}`+"\n", id, at),
			fmt.Sprintf(`  {"id":%q,"track_id":"tq3","status":"failed","submitted_at":%q}  `+"\n", id, at),
		}[s.rng.IntN(3)])
		return "unusual"
	case op < 95 && s.weird && len(s.jobs) > 0:
		// a line naming a job in its first fields and another in the last
		// (encoding/json takes the last of "id" and "ID")
		job := s.jobs[s.rng.IntN(len(s.jobs))]
		s.ids = append(s.ids, "w"+job[0])
		s.raw(fmt.Sprintf(`{"id":%q,"track_id":%q,"status":"processing","submitted_at":%q,"ID":"w%s"}`+"\n",
			job[0], job[1], s.at().Format(time.RFC3339Nano), job[0]))
		return "weird"
	case op < 98:
		// b is another process that starts again: a whole-file read, of a
		// file with torn lines in it
		s.b.Close()
		b, err := Open(s.a.Dir())
		if err != nil {
			t.Fatal(err)
		}
		b.noSync = true
		s.b = b
		return "restart"
	}
	return "read"
}

// TestCacheMatchesFreshParse: after every step of random interleavings of
// Add, AddIntent, Submitted, Forget, Update and Prune through two Journals
// (two processes), torn and garbage lines between them, what each Journal
// reads through its cache is what a fresh parse of the whole file gives.
func TestCacheMatchesFreshParse(t *testing.T) {
	steps := 300
	if testing.Short() {
		steps = 100
	}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 14)), a: openT(t, dir), b: openT(t, dir),
				weird: seed%4 == 3, t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
			s.a.noSync, s.b.noSync = true, true
			reads := 0
			for i := range steps {
				op := s.step()
				what := fmt.Sprintf("step %d (%s)", i, op)
				ids := s.ids
				if len(ids) > 8 {
					ids = ids[len(ids)-8:]
				}
				intents := s.intents
				if len(intents) > 4 {
					intents = intents[len(intents)-4:]
				}
				sameAsFresh(t, s.a, what+", a", slices.Concat(ids, []string{"j1", "nope"}), intents)
				reads++
				if i%5 == 0 {
					sameAsFresh(t, s.b, what+", b", ids, intents)
					reads++
				}
			}
			// The cache did its work: most reads were not whole-file ones.
			if fulls := s.a.c.fulls + s.b.c.fulls; !s.weird && fulls > reads/4 {
				t.Fatalf("%d whole-file reads in %d", fulls, reads)
			}
		})
	}
}

// A Prune by another Journal (another process) replaces the file, and the
// new one soon grows longer than what was cached: it is noticed, and read
// afresh.
func TestCacheSeesPruneByAnother(t *testing.T) {
	dir := t.TempDir()
	a, b := openT(t, dir), openT(t, dir)
	old := time.Now().Add(-48 * time.Hour)
	for i := range 20 {
		a.Add(Entry{ID: fmt.Sprint("old-", i), Status: StatusSuccess, SubmittedAt: old})
	}
	if l, _ := a.List(Filter{}); len(l) != 20 {
		t.Fatalf("%d entries", len(l))
	}
	st, _ := os.Stat(a.Path())
	cached := st.Size()
	fulls := a.c.fulls
	if n, err := b.Prune(time.Now().Add(-time.Hour)); err != nil || n != 20 {
		t.Fatalf("prune: %d %v", n, err)
	}
	for i := 0; ; i++ {
		if err := b.Add(Entry{ID: fmt.Sprint("new-", i), Request: map[string]any{"prompt": strings.Repeat("x", 200)}}); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(a.Path()); st.Size() > cached+100 {
			break
		}
	}
	l, err := a.List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range l {
		if strings.HasPrefix(e.ID, "old-") {
			t.Fatalf("pruned job %s still listed", e.ID)
		}
	}
	if a.c.fulls != fulls+1 {
		t.Fatalf("%d whole-file reads after the prune, want 1", a.c.fulls-fulls)
	}
	sameAsFresh(t, a, "after another's prune", []string{"new-0", "old-0"}, nil)
	if _, err := a.Get("old-3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(old-3) after the prune: %v", err)
	}
	// and the cache works on the new file from then on
	b.Add(Entry{ID: "later"})
	if _, err := a.Get("later"); err != nil {
		t.Fatal(err)
	}
	if a.c.fulls != fulls+1 {
		t.Fatalf("a whole-file read for one appended record")
	}
}

// A file replaced by another (a tool's atomic rewrite) that ends in the
// same bytes at the same offset: the inode tells.
func TestCacheSeesReplacedFile(t *testing.T) {
	j := openT(t, t.TempDir())
	j.Add(Entry{ID: "1", Message: "aaaa"})
	j.Add(Entry{ID: "2", Request: map[string]any{"prompt": strings.Repeat("x", 2*markLen)}})
	if e, _ := j.Get("1"); e.Message != "aaaa" {
		t.Fatalf("%+v", e)
	}
	data, _ := os.ReadFile(j.Path())
	tmp := j.Path() + ".new"
	if err := os.WriteFile(tmp, []byte(strings.Replace(string(data), "aaaa", "bbbb", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, j.Path()); err != nil {
		t.Fatal(err)
	}
	if e, _ := j.Get("1"); e.Message != "bbbb" {
		t.Fatalf("the replaced file was not read: %+v", e)
	}
}

// A file rewritten in place (same inode, by a tool) to something longer
// than what was cached is recognised by the bytes before the cached offset.
func TestCacheSeesRewriteInPlace(t *testing.T) {
	j := openT(t, t.TempDir())
	for i := range 5 {
		j.Add(Entry{ID: fmt.Sprint(i), TrackID: fmt.Sprint("t", i)})
	}
	if l, _ := j.List(Filter{}); len(l) != 5 {
		t.Fatalf("%d entries", len(l))
	}
	var buf strings.Builder
	for i := range 8 {
		line, _ := encode(&Entry{ID: fmt.Sprint("other-", i), TrackID: "x", Status: StatusProcessing})
		buf.Write(line)
	}
	f, err := os.OpenFile(j.Path(), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(buf.String())
	f.Close()
	l, err := j.List(Filter{})
	if err != nil || len(l) != 8 || !strings.HasPrefix(l[0].ID, "other-") {
		t.Fatalf("%v %+v", err, l)
	}
	sameAsFresh(t, j, "after the rewrite", []string{"0", "other-1"}, nil)
}

// A crashed writer's torn tail, then a good record appended by another
// Journal: read as a fresh parse reads it, whether the torn line is a new
// job's (whose seq it then is), a known job's, or a complete record that
// lost its '\n'.
func TestCacheTornTailThenAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		torn func(line []byte) string
	}{
		{"half", func(l []byte) string { return string(l[:len(l)/2]) }},
		{"fast key only", func(l []byte) string { return string(l[:strings.Index(string(l), `"endpoint"`)]) }},
		{"before the key", func(l []byte) string { return string(l[:5]) }},
		{"no newline", func(l []byte) string { return strings.TrimSuffix(string(l), "\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := openT(t, dir), openT(t, dir)
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			a.Add(Entry{ID: "1", TrackID: "t1", SubmittedAt: at})
			a.Add(Entry{ID: "2", TrackID: "t2", SubmittedAt: at})
			sameAsFresh(t, a, "before", []string{"1", "2", "3"}, nil)
			for _, id := range []string{"3", "1"} { // a new job, then a known one
				line, _ := encode(&Entry{ID: id, TrackID: "t" + id, Status: StatusFailed, SubmittedAt: at, Message: "torn"})
				appendRaw(t, a, tc.torn(line))
				sameAsFresh(t, a, "torn "+id, []string{"1", "2", "3"}, nil)
				sameAsFresh(t, b, "torn "+id+", b", []string{"1", "2", "3"}, nil)
				// c starts after the crash: its first read is a whole-file one
				c := openT(t, dir)
				sameAsFresh(t, c, "torn "+id+", c", []string{"1", "2", "3"}, nil)
				if err := b.Add(Entry{ID: id, TrackID: "t" + id, Status: StatusSuccess, SubmittedAt: at}); err != nil {
					t.Fatal(err)
				}
				sameAsFresh(t, a, "appended "+id, []string{"1", "2", "3"}, nil)
				sameAsFresh(t, b, "appended "+id+", b", []string{"1", "2", "3"}, nil)
				sameAsFresh(t, c, "appended "+id+", c", []string{"1", "2", "3"}, nil)
			}
			if e, err := a.Get("3"); err != nil || e.Status != StatusSuccess {
				t.Fatalf("%v %+v", err, e)
			}
			l, _ := a.List(Filter{})
			if len(l) != 3 {
				t.Fatalf("%+v", l)
			}
			// Equal submit times: the job recorded later comes first.
			if l[0].ID != "3" {
				t.Fatalf("order %s %s %s", l[0].ID, l[1].ID, l[2].ID)
			}
		})
	}
}

// Records handed out stay what they were while later reads and appends go
// on, and the cache keeps only each job's newest line, in its own memory.
func TestCacheRecordsOwnTheirBytes(t *testing.T) {
	j := openT(t, t.TempDir())
	j.noSync = true
	for i := range 50 {
		j.Add(Entry{ID: fmt.Sprint(i), Request: map[string]any{"prompt": strings.Repeat("y", i*10)}})
	}
	var kept []*record
	var raws []string
	j.read(func(s *state) error {
		for _, r := range s.recs {
			kept = append(kept, r)
			raws = append(raws, string(r.raw))
		}
		return nil
	})
	for i := range 200 {
		if err := j.Update(fmt.Sprint(i%50), func(e *Entry) { e.Message = strings.Repeat("z", i) }); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range kept {
		if string(r.raw) != raws[i] {
			t.Fatalf("record %d changed under its holder", i)
		}
	}
	err := j.read(func(s *state) error {
		if len(s.recs) != 50 {
			t.Fatalf("%d records cached for 50 jobs", len(s.recs))
		}
		for _, r := range s.recs {
			// a sub-slice of a read buffer would have that buffer's capacity
			if cap(r.raw) > len(r.raw)*5/4+64 {
				t.Fatalf("record %s: %d bytes in a buffer of %d", r.ID, len(r.raw), cap(r.raw))
			}
			if !strings.Contains(string(r.raw), `"message"`) {
				t.Fatalf("record %s is not the newest: %s", r.ID, r.raw)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// the same after a whole-file read
	j2 := openT(t, j.Dir())
	j2.read(func(s *state) error {
		for _, r := range s.recs {
			if cap(r.raw) > len(r.raw)*5/4+64 {
				t.Fatalf("record %s: %d bytes in a buffer of %d", r.ID, len(r.raw), cap(r.raw))
			}
		}
		return nil
	})
}

// Goroutines sharing one Journal read and update while other Journals
// append: no race on the cache (go test -race), nothing lost, and the
// cache agrees with a fresh parse at the end.
func TestCacheSharedByGoroutines(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	j.noSync = true
	const n = 8
	for i := range n {
		j.Add(Entry{ID: fmt.Sprint("c", i), TrackID: fmt.Sprint("ct", i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() { // readers and updaters on the shared Journal
			for k := range 20 {
				if _, err := j.List(Filter{Limit: 5}); err != nil {
					errs <- err
					return
				}
				if _, err := j.Get(fmt.Sprint("ct", (i+k)%n)); err != nil {
					errs <- err
					return
				}
				if err := j.Update(fmt.Sprint("c", i), func(e *Entry) { e.Output = append(e.Output, fmt.Sprint(k)) }); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() { // another process adding
			own, err := Open(dir)
			if err != nil {
				errs <- err
				return
			}
			own.noSync = true
			for k := range 10 {
				if err := own.Add(Entry{ID: fmt.Sprint("o", i, "-", k)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range n {
		e, err := j.Get(fmt.Sprint("c", i))
		if err != nil || len(e.Output) != 20 {
			t.Fatalf("c%d: %v %d outputs", i, err, len(e.Output))
		}
	}
	if l, _ := j.List(Filter{}); len(l) != n+10*n {
		t.Fatalf("%d entries, want %d", len(l), n+10*n)
	}
	sameAsFresh(t, j, "at the end", []string{"c0", "ct1", "o1-1"}, nil)
}
