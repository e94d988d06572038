package journal

// The reading of the log as it was before the cache (cache.go): a fresh,
// backward scan of the whole file into a snapshot. Kept as the reference
// the cache must agree with (cache_test.go).

import (
	"bytes"
	"encoding/json"
)

// snapshot is the journal as read: the newest record of every job (in no
// particular order; seq gives the file order).
type snapshot struct {
	latest []record
	lines  int // records of known jobs, superseded ones included
	bad    int // lines skipped (torn or not JSON)
}

// find returns the newest record whose ID is id or, when none is and
// idFirst is set, whose TrackID is; with idFirst unset either matches.
func (s *snapshot) find(id string, idFirst bool) *record {
	var best *record
	better := func(r *record) bool {
		// later submit wins; on a tie the job recorded later
		return best == nil || newer(r, best)
	}
	for i := range s.latest {
		r := &s.latest[i]
		if (r.ID == id || (!idFirst && r.TrackID == id)) && better(r) {
			best = r
		}
	}
	if best != nil || !idFirst {
		return best
	}
	for i := range s.latest {
		r := &s.latest[i]
		if r.TrackID == id && better(r) {
			best = r
		}
	}
	return best
}

// parse reads the records. It walks the lines from the last to the first,
// so only the newest record of each job is decoded: an older line whose
// job is already known is recognised by its first two fields (fastKey) and
// skipped. A line that does not decode into an entry with an id is skipped:
// a torn tail (kill -9 or a full disk during a write) or garbage; the job's
// previous record then stands. The last line may lack its '\n': it counts
// when it is a complete object (a prefix of a JSON object never is).
func parse(data []byte) *snapshot {
	var lines [][]byte
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	s := &snapshot{}
	idx := make(map[string]int, len(lines)/2+1)
	for n := len(lines) - 1; n >= 0; n-- {
		line := lines[n]
		if k, ok := fastKey(line); ok {
			if i, known := idx[k]; known {
				s.latest[i].seq = n
				s.lines++
				continue
			}
		}
		var m meta
		// Unmarshal checks the whole line's syntax before decoding, so
		// damage in the fields meta skips is caught too.
		if line[0] != '{' || json.Unmarshal(line, &m) != nil || (m.ID == "" && (m.TrackID == "" || m.Status != StatusSubmitting && m.Status != statusForgotten)) {
			s.bad++
			continue
		}
		s.lines++
		k := m.key()
		if i, known := idx[k]; known {
			s.latest[i].seq = n
			continue
		}
		idx[k] = len(s.latest)
		s.latest = append(s.latest, record{meta: m, raw: line, seq: n})
	}
	s.latest = settled(s.latest)
	return s
}

// settled hides the intents that were completed (the same track_id and
// submit time now has an id) or forgotten.
func settled(rs []record) []record {
	type intent struct {
		track string
		at    int64
	}
	done := map[intent]bool{}
	for i := range rs {
		if rs[i].ID != "" {
			done[intent{rs[i].TrackID, rs[i].SubmittedAt.UnixNano()}] = true
		}
	}
	out := rs[:0]
	for _, r := range rs {
		if r.ID == "" && (r.Status == statusForgotten || done[intent{r.TrackID, r.SubmittedAt.UnixNano()}]) {
			continue
		}
		out = append(out, r)
	}
	return out
}
