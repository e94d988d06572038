// Package journal is mlab's local record of every job it submits, so that a
// paid job is never lost to a Ctrl-C, a timeout, a killed CI runner or a
// crash: the job is written down right after submit, before any waiting, and
// updated when it ends.
//
// The store is an append-only JSON-lines file (journal.jsonl) in the state
// directory ([DefaultDir]), guarded by an advisory lock on a sibling file
// (journal.lock): flock(2) on Unix, LockFileEx on Windows. Every record is
// one complete [Entry] snapshot on one line, written with a single write(2)
// on an O_APPEND descriptor under the exclusive lock and fsynced before the
// call returns; readers take the shared lock. A later record for the same
// job overrides the earlier ones (last wins). A line that does not decode —
// the torn tail left by a kill -9 or a full disk — is skipped on read, and
// the next append starts on a fresh line, so one bad write never spoils the
// records after it. [Journal.Prune] rewrites the file (temporary file,
// fsync, rename) under the exclusive lock, which also compacts away
// superseded records and torn lines.
//
// A job's identity is the pair (ID, TrackID) as given to [Journal.Add]:
// ModelsLab ids are unique on one API, but a sandbox hands out the same ids
// on every start, and the generated track_id tells such jobs apart.
//
// Many processes may use one journal at once (parallel CI steps sharing a
// HOME); so may many goroutines, with one [Journal] or several. Every call
// reads or appends the file under the lock, so a process always sees what
// the others wrote; a [Journal] keeps what it has read (the newest record
// of each job and the offset it read to), and a later call reads only the
// bytes appended since, unless the file was replaced ([Journal.Prune] by any
// process) or cut shorter, which makes it read everything again. The result
// is the same as reading the whole file afresh. docs/journal.md explains
// the choice of store and the file format.
package journal
