package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"
)

// A Journal keeps what it has read of the log, so that a call reads only
// the bytes appended since its previous call (by this or any other process)
// instead of the whole file: the cache. Under the lock every call stats the
// log; when it is the file read before (same device and inode, os.SameFile),
// no shorter than what was read, and the bytes just before that point are
// still those read there, only the rest is read and its lines are applied
// to the cached state in file order. Anything else (the first call, a Prune
// of any process renaming a new file into place, a file cut shorter or
// rewritten) reads the whole file again, as every call did before.
//
// Applying lines forward gives exactly what the backward scan of the whole
// file gives ([load]; the same result as reading it fresh), including the
// job order (seq), the count of superseded and unreadable lines, a torn
// line of a job that a later good record of the job turns into one of its
// records (pending), and the intents hidden by the records that complete
// them (done). The one input where the two differ is a line that is not
// what encode writes and names another job in its first two fields than in
// its decoded ones (a duplicated or differently cased "id" key, bad UTF-8):
// the cache is then not kept, and every read is a full one.

// markLen is how many bytes before the cached offset are compared on every
// read: a file that was replaced (another inode reusing the number) or
// rewritten in place is recognised there, the newest line ends with a
// timestamp in nanoseconds.
const markLen = 256

// cache is what a Journal has read of its log.
type cache struct {
	mu    sync.Mutex  // guards the rest; readers under the shared lock run at once
	st    *state      // the file's first off bytes; nil: nothing kept
	info  os.FileInfo // the file st was read from
	off   int64       // bytes st covers; off is 0 or the file has '\n' at off-1
	mark  []byte      // the last min(off, markLen) bytes before off
	fulls int         // whole-file reads so far (tests)
}

func (c *cache) drop() {
	c.st, c.info, c.off, c.mark = nil, nil, 0, nil
}

func (c *cache) setMark(consumed []byte) {
	c.mark = bytes.Clone(consumed[max(0, len(consumed)-markLen):])
}

// refresh brings the cache up to date with the log, open as f, and returns
// the journal as it is now. The caller holds the journal's lock (shared or
// exclusive) and c.mu; the state returned may be the cache's own: it is
// for use under c.mu, and only its records (never changed once made) may
// outlive that.
func (c *cache) refresh(f *os.File) (*state, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	if c.st != nil && os.SameFile(fi, c.info) && fi.Size() >= c.off {
		s, ok, err := c.more(f, fi)
		if err != nil || ok {
			return s, err
		}
	}
	return c.full(f, fi)
}

// more reads what was appended after c.off and applies it; ok is false
// when the file is not the one cached after all (then the cache is no
// longer usable and the caller reads everything).
func (c *cache) more(f *os.File, fi os.FileInfo) (s *state, ok bool, err error) {
	start := c.off - int64(len(c.mark))
	buf := make([]byte, fi.Size()-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		if errors.Is(err, io.EOF) { // cut shorter since the stat
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read the journal: %w", err)
	}
	if !bytes.Equal(buf[:len(c.mark)], c.mark) {
		return nil, false, nil
	}
	data := buf[len(c.mark):]
	cut := bytes.LastIndexByte(data, '\n') + 1
	if cut > 0 {
		if !c.st.applyAll(data[:cut]) {
			c.drop() // partly applied: useless now
			return nil, false, nil
		}
		c.off += int64(cut)
		c.setMark(buf[:len(c.mark)+cut])
	}
	return c.withTail(data[cut:])
}

// full reads the whole file and caches its complete lines.
func (c *cache) full(f *os.File, fi os.FileInfo) (*state, error) {
	c.drop()
	c.fulls++
	data, err := readAll(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	cut := bytes.LastIndexByte(data, '\n') + 1
	s := load(data[:cut])
	if s.weird {
		if cut < len(data) {
			s = load(data)
		}
		return s, nil
	}
	c.st, c.info, c.off = s, fi, int64(cut)
	c.setMark(data[:cut])
	v, ok, _ := c.withTail(data[cut:])
	if !ok {
		return load(data), nil
	}
	return v, nil
}

// withTail returns the cached state with the file's last line applied when
// it lacks its '\n': such a line counts when it is a complete record, but
// it is not cached, since the next append starts a fresh line after it (it
// stays what it is) and another writer could complete it (it changes), so
// it is read again next time. ok is false when the tail cannot be applied
// forward.
func (c *cache) withTail(rest []byte) (s *state, ok bool, err error) {
	line := bytes.TrimSpace(rest)
	if len(line) == 0 {
		return c.st, true, nil
	}
	v := c.st.clone()
	if !v.apply(line) {
		return nil, false, nil
	}
	return v, true, nil
}

func readAll(f *os.File, size int64) ([]byte, error) {
	data := make([]byte, 0, size+512)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = slices.Grow(data, 4096)
		}
	}
}

// state is the journal as read: the newest record of every job and what
// applying more lines needs.
type state struct {
	recs    []*record          // the newest record of every job, one slot each; seq gives the file order
	idx     map[string]int     // job key -> slot
	done    map[intent]int     // (track_id, submitted_at) of the jobs with an id -> how many: hides the intents they complete
	pending map[string]pending // job key (fastKey) of unreadable lines with no good record of the job after them
	n       int                // non-empty lines so far: the next line's number
	lines   int                // records of known jobs, superseded ones and pending ones that came good included
	bad     int                // lines skipped (torn or not JSON)
	weird   bool               // a line the forward application would read differently: do not keep

	// find's index, built on first use: the newest slot of each id and
	// track id, and for each slot the previous one with the same id (track
	// id), -1 at the end. Empty ids and track ids are not indexed.
	byID, byTrack     map[string]int
	nextID, nextTrack []int
}

// pending counts the unreadable lines that start like a record of one job
// (fastKey) after the job's last good record, or of a job not seen yet.
// The backward scan counts such a line as a record of the job (and its
// number as the job's seq when it is the first) once a good record of the
// job follows it; until then it is bad.
type pending struct{ count, first int }

type intent struct {
	track string
	at    int64
}

func newState(n int) *state {
	return &state{idx: make(map[string]int, n), done: map[intent]int{}, pending: map[string]pending{}}
}

// visible reports whether callers see r: everything but the intents that
// were forgotten or completed (the same track_id and submit time now has
// an id).
func (s *state) visible(r *record) bool {
	return r.ID != "" || (r.Status != statusForgotten && s.done[intent{r.TrackID, r.SubmittedAt.UnixNano()}] == 0)
}

func (s *state) markDone(r *record, d int) {
	if r.ID == "" {
		return
	}
	k := intent{r.TrackID, r.SubmittedAt.UnixNano()}
	if s.done[k] += d; s.done[k] <= 0 {
		delete(s.done, k)
	}
}

// decodeMeta decodes a line (trimmed, not empty) as a record: a JSON
// object with an id, or an intent (no id, a track_id, status submitting
// or forgotten).
func decodeMeta(line []byte) (meta, bool) {
	var m meta
	// Unmarshal checks the whole line's syntax before decoding, so damage
	// in the fields meta skips is caught too.
	if line[0] != '{' || json.Unmarshal(line, &m) != nil || (m.ID == "" && (m.TrackID == "" || m.Status != StatusSubmitting && m.Status != statusForgotten)) {
		return m, false
	}
	return m, true
}

// eachLine calls fn with every non-empty line of data, trimmed.
func eachLine(data []byte, fn func([]byte)) {
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			fn(line)
		}
	}
}

// load reads the records of data. It walks the lines from the last to the
// first, so only the newest record of each job is decoded: an older line
// whose job is already known is recognised by its first two fields
// (fastKey) and skipped. A line that does not decode into an entry with an
// id is skipped: a torn tail (kill -9 or a full disk during a write) or
// garbage; the job's previous record then stands. The last line may lack
// its '\n': it counts when it is a complete object (a prefix of a JSON
// object never is). Each record's raw line is copied: the state holds the
// newest line of each job, not data.
func load(data []byte) *state {
	var lines [][]byte
	eachLine(data, func(l []byte) { lines = append(lines, l) })
	s := newState(len(lines)/2 + 1)
	s.n = len(lines)
	for n := len(lines) - 1; n >= 0; n-- {
		line := lines[n]
		fk, fkOK := fastKey(line)
		if fkOK {
			if i, known := s.idx[fk]; known {
				s.recs[i].seq = n // not shared yet
				s.lines++
				continue
			}
		}
		m, ok := decodeMeta(line)
		if !ok {
			s.bad++
			if fkOK {
				p := s.pending[fk]
				p.count++
				p.first = n
				s.pending[fk] = p
			}
			continue
		}
		s.lines++
		k := m.key()
		if fkOK && k != fk {
			s.weird = true
		}
		if i, known := s.idx[k]; known {
			s.recs[i].seq = n
			continue
		}
		s.idx[k] = len(s.recs)
		s.recs = append(s.recs, &record{meta: m, raw: bytes.Clone(line), seq: n})
	}
	for _, r := range s.recs {
		s.markDone(r, 1)
	}
	return s
}

// applyAll applies the lines of data in order; false when one of them
// cannot be applied forward (s is then partly changed).
func (s *state) applyAll(data []byte) bool {
	ok := true
	eachLine(data, func(l []byte) {
		if ok {
			ok = s.apply(l)
		}
	})
	return ok
}

// apply adds the next line of the file (trimmed, not empty) to s, with the
// result the backward scan of the whole file would give. It returns false,
// having changed nothing but the line count, for a good line whose fastKey
// names another job than its decoded fields.
func (s *state) apply(line []byte) bool {
	n := s.n
	s.n++
	fk, fkOK := fastKey(line)
	m, ok := decodeMeta(line)
	if !ok {
		s.bad++
		if fkOK {
			p, seen := s.pending[fk]
			if !seen {
				p.first = n
			}
			p.count++
			s.pending[fk] = p
		}
		return true
	}
	k := m.key()
	if fkOK && k != fk {
		return false
	}
	s.lines++
	seq := n
	if p, seen := s.pending[k]; seen {
		// the job's unreadable lines before this one are its records now
		s.bad -= p.count
		s.lines += p.count
		seq = min(seq, p.first)
		delete(s.pending, k)
	}
	r := &record{meta: m, raw: bytes.Clone(line)}
	if i, known := s.idx[k]; known {
		old := s.recs[i]
		r.seq = old.seq
		s.markDone(old, -1)
		s.recs[i] = r
		s.markDone(r, 1)
		return true
	}
	r.seq = seq
	i := len(s.recs)
	s.idx[k] = i
	s.recs = append(s.recs, r)
	s.markDone(r, 1)
	if s.byID != nil {
		s.link(i, r)
	}
	return true
}

// clone copies s for applying a line that must not reach the cache. The
// records are shared: they never change.
func (s *state) clone() *state {
	c := *s
	c.recs = slices.Clone(s.recs)
	c.idx = maps.Clone(s.idx)
	c.done = maps.Clone(s.done)
	c.pending = maps.Clone(s.pending)
	c.byID, c.byTrack, c.nextID, c.nextTrack = nil, nil, nil, nil
	return &c
}

func (s *state) index() {
	if s.byID != nil {
		return
	}
	s.byID = make(map[string]int, len(s.recs))
	s.byTrack = make(map[string]int, len(s.recs))
	s.nextID = make([]int, 0, len(s.recs))
	s.nextTrack = make([]int, 0, len(s.recs))
	for i, r := range s.recs {
		s.link(i, r)
	}
}

// link indexes slot i (the next one) by its id and track id.
func (s *state) link(i int, r *record) {
	head := func(m map[string]int, v string) int {
		if v == "" {
			return -1
		}
		prev, ok := m[v]
		if !ok {
			prev = -1
		}
		m[v] = i
		return prev
	}
	s.nextID = append(s.nextID, head(s.byID, r.ID))
	s.nextTrack = append(s.nextTrack, head(s.byTrack, r.TrackID))
}

// find returns the newest visible record whose ID is id or, when none is
// and idFirst is set, whose TrackID is; with idFirst unset either matches.
func (s *state) find(id string, idFirst bool) *record {
	if id == "" {
		return nil
	}
	s.index()
	var best *record
	walk := func(m map[string]int, next []int) {
		i, ok := m[id]
		for ; ok && i >= 0; i = next[i] {
			// later submit wins; on a tie the job recorded later
			if r := s.recs[i]; s.visible(r) && (best == nil || newer(r, best)) {
				best = r
			}
		}
	}
	walk(s.byID, s.nextID)
	if best != nil && idFirst {
		return best
	}
	walk(s.byTrack, s.nextTrack)
	return best
}

// intent returns the visible intent (trackID, submittedAt), or nil.
func (s *state) intent(trackID string, at time.Time) *record {
	i, ok := s.idx["\x00"+trackID]
	if !ok {
		return nil
	}
	if r := s.recs[i]; r.ID == "" && r.TrackID == trackID && r.SubmittedAt.Equal(at) && s.visible(r) {
		return r
	}
	return nil
}

// visibleBySeq returns the visible records in file order.
func (s *state) visibleBySeq() []*record {
	out := make([]*record, 0, len(s.recs))
	for _, r := range s.recs {
		if s.visible(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *record) int { return a.seq - b.seq })
	return out
}

// view runs fn on the journal as it is on disk, read through f (the log,
// or nil: view opens it). The caller holds the journal's lock; fn runs
// under the cache's mutex and must not keep the state (records, which
// never change, it may).
func (j *Journal) view(f *os.File, fn func(*state) error) error {
	j.c.mu.Lock()
	defer j.c.mu.Unlock()
	if f == nil {
		var err error
		f, err = os.Open(j.logPath)
		if errors.Is(err, os.ErrNotExist) {
			j.c.drop()
			return fn(newState(0))
		}
		if err != nil {
			return fmt.Errorf("read the journal: %w", err)
		}
		defer f.Close()
	}
	s, err := j.c.refresh(f)
	if err != nil {
		return err
	}
	return fn(s)
}

// read runs view under the shared lock.
func (j *Journal) read(fn func(*state) error) error {
	unlock, err := j.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	return j.view(nil, fn)
}
