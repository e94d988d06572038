package webhook

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Recorder appends deliveries to a JSON-lines file, crash-safely: the file
// is opened O_APPEND and every line is written with a single write of the
// complete line, so a process killed at any moment leaves only complete
// lines (and at worst no trailing newline after the last one, which the
// next [OpenRecorder] repairs before appending).
type Recorder struct {
	path string
	f    *os.File
	w    io.Writer // f, or a wrapper (WrapWriter)
}

// OpenRecorder opens (or creates, mode 0600) the record file at path for
// appending, ending a partial last line left by a killed run.
func OpenRecorder(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	r := &Recorder{path: path, f: f, w: f}
	// A previous run killed mid-write may have left a partial last line:
	// end it, so our first line stays a line of its own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		rf, err := os.Open(path)
		if err == nil {
			_, err = rf.ReadAt(last, st.Size()-1)
			rf.Close()
		}
		if err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte("\n")); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return r, nil
}

// WrapWriter puts wrap around the file's writer (a slow disk, in tests).
// Call it before the first Write.
func (r *Recorder) WrapWriter(wrap func(io.Writer) io.Writer) { r.w = wrap(r.f) }

// Write appends one complete line (newline included) in one write.
func (r *Recorder) Write(line []byte) error {
	n, err := r.w.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("record to %s: %w", r.path, err)
	}
	return nil
}

// Close closes the file; closing twice is not an error.
func (r *Recorder) Close() error {
	if err := r.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close %s: %w", r.path, err)
	}
	return nil
}
