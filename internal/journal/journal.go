package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// File names inside the journal directory.
const (
	LogName  = "journal.jsonl" // the records, one JSON object per line
	LockName = "journal.lock"  // the advisory lock; never renamed, never holds data
)

// Statuses an entry can have.
const (
	StatusSubmitting = "submitting" // the intent: about to be sent, or sent with no answer yet (may have been paid)
	StatusProcessing = "processing" // submitted, not known to be finished
	StatusSuccess    = "success"
	StatusFailed     = "failed"

	// statusForgotten ends an intent whose submit certainly never reached
	// the API; readers never see it.
	statusForgotten = "forgotten"
)

// MaxRequestString is the longest string value kept in Entry.Request. A
// longer one (an image passed inline as base64 with -F init_image=@file)
// is cut to this many bytes and marked, so one job cannot make every later
// read of the journal slow.
const MaxRequestString = 2048

// ErrNotFound is returned by Get and Update when no entry matches.
var ErrNotFound = errors.New("job not found in the journal")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("journal is closed")

// Entry is one job as the journal knows it. The journal stores complete
// snapshots: the newest record of a job is the job.
type Entry struct {
	ID          string            `json:"id"`       // the job id as text (generation id, training_id, execution_id)
	TrackID     string            `json:"track_id"` // the track_id sent with the job
	Endpoint    string            `json:"endpoint"` // catalogue name, e.g. "text2img"
	Kind        string            `json:"kind"`     // "img", "video", "audio", "3d", "train", "workflow", "edit"
	BaseURL     string            `json:"base_url"` // API base it was submitted to (never a key)
	FetchURL    string            `json:"fetch_url,omitempty"`
	PathParams  map[string]string `json:"path_params,omitempty"` // e.g. workflow_id
	Request     map[string]any    `json:"request,omitempty"`     // the body minus "key"
	BatchID     string            `json:"batch_id,omitempty"`
	Line        int               `json:"line,omitempty"` // the --batch input line`
	SubmittedAt time.Time         `json:"submitted_at"`
	Status      string            `json:"status"` // "processing" until finished; then "success" | "failed"
	Output      []string          `json:"output,omitempty"`
	Files       []string          `json:"files,omitempty"`
	Via         string            `json:"via,omitempty"`
	// Tunnel is how a webhook could reach mlab when the job was submitted:
	// the receiver mode (ngrok, url, local), or none (poll only). With Via
	// it tells whether webhooks have been arriving lately.
	Tunnel string `json:"tunnel,omitempty"`
	// RelayToken is the job's webhook token on a webhook relay (--relay),
	// and RelayURL the relay's broker URL (passwords redacted): mlab wait
	// reads what the relay stored for the token meanwhile.
	RelayToken string    `json:"relay_token,omitempty"`
	RelayURL   string    `json:"relay_url,omitempty"`
	Message    string    `json:"message,omitempty"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Finished reports whether the job has ended (success or failed).
func (e *Entry) Finished() bool { return finished(e.Status) }

// finished: success, failed or another end the API reported; an intent
// and a running job are not.
func finished(status string) bool {
	return status != "" && status != StatusProcessing && status != StatusSubmitting
}

// Filter selects entries for List. Zero fields select everything.
type Filter struct {
	Status  string    // exact status
	Kind    string    // exact kind
	BatchID string    // exact batch id
	Since   time.Time // submitted at or after
	Limit   int       // at most this many (newest first); 0 or less: all
}

// Journal is an open journal directory. Its methods are safe for concurrent
// use; several Journals (in one process or many) may share a directory.
type Journal struct {
	dir, logPath, lockPath string
	mu                     *sync.RWMutex // in-process lock shared by every Journal on this directory
	closed                 atomic.Bool
	noSync                 bool  // benchmarks only: measure what fsync costs
	c                      cache // what this Journal has read of the log (cache.go)
}

// procLocks holds one RWMutex per lock file, so goroutines of one process
// exclude each other even where the OS lock is per process (fcntl on NFS)
// or missing.
var procLocks sync.Map // lock path -> *sync.RWMutex

// Open opens the journal in dir, creating the directory (mode 0700) and the
// log and lock files (mode 0600) when missing.
func Open(dir string) (*Journal, error) {
	if dir == "" {
		return nil, errors.New("journal: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create the journal directory: %w", err)
	}
	j := &Journal{dir: abs, logPath: filepath.Join(abs, LogName), lockPath: filepath.Join(abs, LockName)}
	m, _ := procLocks.LoadOrStore(j.lockPath, new(sync.RWMutex))
	j.mu = m.(*sync.RWMutex)

	lf, err := os.OpenFile(j.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the journal lock: %w", err)
	}
	lf.Close()
	created := false
	if _, err := os.Stat(j.logPath); errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(j.logPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create the journal: %w", err)
		}
		f.Close()
		created = true
	} else if err != nil {
		return nil, fmt.Errorf("open the journal: %w", err)
	}
	if created {
		syncDir(abs)
	}
	return j, nil
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// Path returns the log file's path.
func (j *Journal) Path() string { return j.logPath }

// Close marks the journal closed and drops what it has cached. It holds no
// descriptor between calls, so there is nothing to flush: every Add and
// Update is on disk when it returns.
func (j *Journal) Close() error {
	j.closed.Store(true)
	j.c.mu.Lock()
	j.c.drop()
	j.c.mu.Unlock()
	return nil
}

// lock takes the in-process lock and then the OS lock on the lock file, and
// returns the function that releases both.
func (j *Journal) lock(exclusive bool) (func(), error) {
	if j.closed.Load() {
		return nil, ErrClosed
	}
	if exclusive {
		j.mu.Lock()
	} else {
		j.mu.RLock()
	}
	unlockMu := j.mu.Unlock
	if !exclusive {
		unlockMu = j.mu.RUnlock
	}
	f, err := os.OpenFile(j.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		unlockMu()
		return nil, fmt.Errorf("open the journal lock: %w", err)
	}
	if err := lockFile(f, exclusive); err != nil {
		f.Close()
		unlockMu()
		return nil, fmt.Errorf("lock the journal: %w", err)
	}
	return func() {
		_ = unlockFile(f)
		f.Close()
		unlockMu()
	}, nil
}

// Add records a job right after its submit. It sets Status to "processing"
// when empty, SubmittedAt to now when zero, and UpdatedAt to now; it drops
// "key" from Request (without changing the caller's map) and any password
// from BaseURL. The record is on disk (fsynced) when Add returns.
func (j *Journal) Add(e Entry) error {
	if e.ID == "" && (e.Status != StatusSubmitting || e.TrackID == "") {
		return errors.New("journal: add: empty job id (only an intent, status submitting with a track_id, has none)")
	}
	now := time.Now().UTC()
	if e.Status == "" {
		e.Status = StatusProcessing
	}
	if e.SubmittedAt.IsZero() {
		e.SubmittedAt = now
	}
	e.UpdatedAt = now
	clean(&e)
	line, err := encode(&e)
	if err != nil {
		return err
	}
	unlock, err := j.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	return j.appendLocked(line)
}

// AddIntent writes down a job that is about to be submitted, before the
// request leaves: its track_id, endpoint and request, with no id yet and
// status StatusSubmitting. Money: a job that may have been paid for is never
// unknown. Complete it with [Journal.Submitted], or with [Journal.Forget]
// when the submit certainly never reached the API. It returns the entry's
// SubmittedAt, which names the intent.
func (j *Journal) AddIntent(e Entry) (time.Time, error) {
	if e.TrackID == "" {
		return time.Time{}, errors.New("journal: intent without a track_id")
	}
	e.ID, e.Status = "", StatusSubmitting
	if e.SubmittedAt.IsZero() {
		e.SubmittedAt = time.Now().UTC()
	}
	return e.SubmittedAt, j.Add(e)
}

// Submitted completes the intent (trackID, submittedAt) with the id the API
// gave, its fetch URL and status StatusProcessing; fn, if set, may change
// more fields. The intent disappears from every reader.
func (j *Journal) Submitted(trackID string, submittedAt time.Time, id, fetchURL string, fn func(*Entry)) error {
	if id == "" {
		return errors.New("journal: submitted without a job id")
	}
	return j.settle(trackID, submittedAt, func(e *Entry) {
		e.ID, e.FetchURL, e.Status = id, fetchURL, StatusProcessing
		if fn != nil {
			fn(e)
			e.ID = id
		}
	})
}

// Forget drops the intent (trackID, submittedAt): its submit certainly
// never reached the API (refused before sending, or answered with an error
// that created no job).
func (j *Journal) Forget(trackID string, submittedAt time.Time) error {
	return j.settle(trackID, submittedAt, func(e *Entry) { e.Status = statusForgotten })
}

// settle rewrites an intent under the exclusive lock.
func (j *Journal) settle(trackID string, submittedAt time.Time, fn func(*Entry)) error {
	return j.rewrite(func(s *state) *record { return s.intent(trackID, submittedAt) }, func(e *Entry) {
		at := e.SubmittedAt
		fn(e)
		e.TrackID, e.SubmittedAt = trackID, at
	})
}

// Update applies fn to the newest entry whose ID (or, failing that,
// TrackID) is id and appends the result, all under the exclusive lock, so
// concurrent updates never lose each other's changes. fn must not change
// ID or TrackID (they are restored); UpdatedAt is set afterwards. It
// returns ErrNotFound when no entry matches; fn is not called then.
func (j *Journal) Update(id string, fn func(*Entry)) error {
	if id == "" {
		return ErrNotFound
	}
	return j.rewrite(func(s *state) *record { return s.find(id, true) }, func(e *Entry) {
		idv, track := e.ID, e.TrackID
		fn(e)
		e.ID, e.TrackID = idv, track
		if e.Status == "" {
			e.Status = StatusProcessing
		}
	})
}

// rewrite appends a new record of the entry find picks, changed by fn,
// under the exclusive lock; ErrNotFound when find picks none.
func (j *Journal) rewrite(find func(*state) *record, fn func(*Entry)) error {
	unlock, err := j.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	// One descriptor for the read and the append. No log, no entry: the
	// open does not create one.
	f, err := os.OpenFile(j.logPath, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		j.c.mu.Lock()
		j.c.drop()
		j.c.mu.Unlock()
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	defer f.Close()
	var cur *record
	if err := j.view(f, func(s *state) error { cur = find(s); return nil }); err != nil {
		return err
	}
	if cur == nil {
		return ErrNotFound
	}
	e, err := cur.entry()
	if err != nil {
		return err
	}
	fn(&e)
	e.UpdatedAt = time.Now().UTC()
	clean(&e)
	line, err := encode(&e)
	if err != nil {
		return err
	}
	return j.appendTo(f, line)
}

// Get returns the newest entry (by submit time) whose ID or TrackID is
// idOrTrackID, or ErrNotFound.
func (j *Journal) Get(idOrTrackID string) (*Entry, error) {
	if idOrTrackID == "" {
		return nil, ErrNotFound
	}
	var r *record
	if err := j.read(func(s *state) error { r = s.find(idOrTrackID, false); return nil }); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNotFound
	}
	e, err := r.entry()
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// List returns the entries that match f, newest submitted first (ties:
// the one recorded later first).
func (j *Journal) List(f Filter) ([]Entry, error) {
	var sel []*record
	err := j.read(func(s *state) error {
		for _, r := range s.recs {
			if f.match(&r.meta) && s.visible(r) {
				sel = append(sel, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Newest submitted first; on equal times the job recorded later first.
	slices.SortFunc(sel, func(a, b *record) int {
		if c := b.SubmittedAt.Compare(a.SubmittedAt); c != 0 {
			return c
		}
		return b.seq - a.seq
	})
	if f.Limit > 0 && len(sel) > f.Limit {
		sel = sel[:f.Limit]
	}
	out := make([]Entry, len(sel))
	for i, r := range sel {
		if out[i], err = r.entry(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Prune removes the finished entries submitted before olderThan and
// returns how many jobs it removed. Unfinished ("processing") entries are
// kept whatever their age: they may be waited for. The log is rewritten
// under the exclusive lock (temporary file, fsync, rename, fsync of the
// directory), which also drops superseded records and unreadable lines;
// a crash at any point leaves either the old or the new file.
func (j *Journal) Prune(olderThan time.Time) (int, error) {
	return j.compact("prune the journal", func(r *record) bool {
		return r.finished() && r.SubmittedAt.Before(olderThan)
	})
}

// Remove removes the jobs of entries (each matched by its ID and TrackID,
// as Get and List return them) from the journal, finished or not, and
// returns how many it removed; an entry that is not there is no error.
// The log is rewritten as by Prune. A job removed while another process
// still waits for it is not written back: that process's updates find
// nothing (ErrNotFound).
func (j *Journal) Remove(entries ...Entry) (int, error) {
	keys := make(map[string]bool, len(entries))
	for _, e := range entries {
		m := meta{ID: e.ID, TrackID: e.TrackID}
		keys[m.key()] = true
	}
	return j.compact("remove jobs from the journal", func(r *record) bool { return keys[r.key()] })
}

// compact rewrites the log without the visible records drop selects (and
// without superseded records and unreadable lines), under the exclusive
// lock, and returns how many it dropped.
func (j *Journal) compact(what string, drop func(*record) bool) (int, error) {
	unlock, err := j.lock(true)
	if err != nil {
		return 0, err
	}
	defer unlock()
	j.removeStaleTemps()
	var recs []*record
	var lines, bad int
	err = j.view(nil, func(s *state) error {
		recs, lines, bad = s.visibleBySeq(), s.lines, s.bad
		return nil
	})
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	removed, kept := 0, 0
	for _, r := range recs {
		if drop(r) {
			removed++
			continue
		}
		kept++
		buf.Write(r.raw)
		buf.WriteByte('\n')
	}
	if removed == 0 && lines == kept && bad == 0 {
		return 0, nil // already compact
	}
	tmp, err := os.CreateTemp(j.dir, ".journal-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	tmpName := tmp.Name()
	fail := func(err error) (int, error) {
		tmp.Close()
		os.Remove(tmpName)
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	// CreateTemp makes the file 0600 already, like the log.
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmpName, j.logPath); err != nil {
		os.Remove(tmpName)
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	syncDir(j.dir)
	// The next read would see the new file anyway (another inode); what
	// was cached of the old one is of no use.
	j.c.mu.Lock()
	j.c.drop()
	j.c.mu.Unlock()
	return removed, nil
}

// removeStaleTemps deletes temporary files left by a Prune that crashed
// (called under the exclusive lock, so none is in use).
func (j *Journal) removeStaleTemps() {
	names, _ := filepath.Glob(filepath.Join(j.dir, ".journal-*.tmp"))
	for _, n := range names {
		os.Remove(n)
	}
}

// appendLocked writes line (which ends in '\n') at the end of the log with
// one write on an O_APPEND descriptor, starting a fresh line first when the
// file does not end in one (a torn record), then fsyncs. On a failed write
// the file is cut back to its old size. The caller holds the exclusive lock.
func (j *Journal) appendLocked(line []byte) error {
	f, err := os.OpenFile(j.logPath, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	defer f.Close()
	return j.appendTo(f, line)
}

// appendTo is appendLocked on f, the log opened with O_APPEND and for
// reading.
func (j *Journal) appendTo(f *os.File, line []byte) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	size := st.Size()
	if size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil && err != io.EOF {
			return fmt.Errorf("read the journal: %w", err)
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		_ = f.Truncate(size)
		return fmt.Errorf("write the journal: %w", err)
	}
	if j.noSync {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync the journal: %w", err)
	}
	return nil
}

// meta is the part of a record that finding, filtering and sorting need.
// Decoding only this (encoding/json skips the rest without allocating) is
// what keeps a read of 10,000 jobs fast; the full entry is decoded only for
// the records returned.
type meta struct {
	ID          string    `json:"id"`
	TrackID     string    `json:"track_id"`
	Kind        string    `json:"kind"`
	Status      string    `json:"status"`
	BatchID     string    `json:"batch_id"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// key is the identity of a job: ids can repeat across APIs (a sandbox
// starts from the same id every time), track ids tell them apart.
func (m *meta) key() string { return m.ID + "\x00" + m.TrackID }

func (m *meta) finished() bool { return finished(m.Status) }

func (f Filter) match(m *meta) bool {
	return (f.Status == "" || m.Status == f.Status) &&
		(f.Kind == "" || m.Kind == f.Kind) &&
		(f.BatchID == "" || m.BatchID == f.BatchID) &&
		(f.Since.IsZero() || !m.SubmittedAt.Before(f.Since))
}

// newer reports whether a was submitted after b (on equal times: whether
// a's first record comes later in the file).
func newer(a, b *record) bool {
	if c := a.SubmittedAt.Compare(b.SubmittedAt); c != 0 {
		return c > 0
	}
	return a.seq > b.seq
}

// record is the newest line of one job. Once made it never changes (a
// newer line makes a new record), so records handed out of the cache stay
// valid whatever is read after.
type record struct {
	meta
	raw []byte // the line, without its '\n', in memory of its own
	seq int    // line number of the job's first record (the order of the file)
}

func (r *record) entry() (Entry, error) {
	var e Entry
	if err := json.Unmarshal(r.raw, &e); err != nil {
		return e, fmt.Errorf("journal: decode entry %s: %w", r.ID, err)
	}
	return e, nil
}

// fastKey returns the job key of a line that starts the way encode writes
// every record, {"id":"…","track_id":"…", with no escapes in either
// string; ok is false for anything else (the caller then decodes).
func fastKey(line []byte) (key string, ok bool) {
	const p1, p2 = `{"id":"`, `","track_id":"`
	rest, found := bytes.CutPrefix(line, []byte(p1))
	if !found {
		return "", false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return "", false
	}
	id := rest[:i]
	rest, found = bytes.CutPrefix(rest[i:], []byte(p2))
	if !found {
		return "", false
	}
	i = bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return "", false
	}
	return string(id) + "\x00" + string(rest[:i]), true
}

func encode(e *Entry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("journal: encode entry %s: %w", e.ID, err)
	}
	return buf.Bytes(), nil // Encode ends it with '\n' and escapes any inside
}

// clean removes what must never be stored: the API key in the request and
// credentials in the base URL. It copies Request rather than changing the
// caller's map, and cuts very long request strings.
func clean(e *Entry) {
	if e.Request != nil {
		req := make(map[string]any, len(e.Request))
		for k, v := range e.Request {
			if strings.EqualFold(k, "key") {
				continue
			}
			if s, ok := v.(string); ok && len(s) > MaxRequestString {
				v = truncate(s)
			}
			req[k] = v
		}
		e.Request = req
	}
	if e.BaseURL != "" {
		if u, err := url.Parse(e.BaseURL); err == nil && u.User != nil {
			u.User = nil
			e.BaseURL = u.String()
		}
	}
}

func truncate(s string) string {
	cut := MaxRequestString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…[truncated by mlab: %d bytes]", len(s))
}

// syncDir fsyncs a directory so a created or renamed file survives a power
// loss. Best effort: not every platform can open a directory for sync.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
