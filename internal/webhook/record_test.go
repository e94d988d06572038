package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecorderEndsAPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	os.WriteFile(path, []byte("{\"body\":{\"complete\":1}}\n{\"body\":{\"cut\":"), 0o600)
	r, err := OpenRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Write([]byte("{\"body\":{\"next\":2}}\n")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	b, _ := os.ReadFile(path)
	if string(b) != "{\"body\":{\"complete\":1}}\n{\"body\":{\"cut\":\n{\"body\":{\"next\":2}}\n" {
		t.Fatalf("file %q", b)
	}
	var warned []string
	recs, err := ReadRecords(bytes.NewReader(b), func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) })
	if err != nil || len(recs) != 2 || len(warned) != 1 || !strings.Contains(warned[0], "line 2") {
		t.Fatalf("recs %d, warned %q, err %v", len(recs), warned, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// halfWriter writes half of every write: a full disk.
type halfWriter struct{ w io.Writer }

func (h halfWriter) Write(p []byte) (int, error) { return h.w.Write(p[:len(p)/2]) }

// countingWriter counts the writes that reach the file.
type countingWriter struct {
	w      io.Writer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.w.Write(p) }

func TestRecorderWritesEachLineInOneWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	r, err := OpenRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	cw := &countingWriter{}
	r.WrapWriter(func(w io.Writer) io.Writer { cw.w = w; return cw })
	for _, l := range []string{"{\"a\":1}\n", "{\"b\":2}\n"} {
		if err := r.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if cw.writes != 2 {
		t.Fatalf("%d writes for 2 lines", cw.writes)
	}
	// A file that ends with a newline is appended to as it is.
	r, err = OpenRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	r.Write([]byte("{\"c\":3}\n"))
	r.Close()
	if b, _ := os.ReadFile(path); string(b) != "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n" {
		t.Fatalf("file %q", b)
	}
}

func TestRecorderReportsShortWritesAndBadPaths(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	r, err := OpenRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.WrapWriter(func(w io.Writer) io.Writer { return halfWriter{w} })
	err = r.Write([]byte("{\"a\":1}\n"))
	if !errors.Is(err, io.ErrShortWrite) || !strings.Contains(err.Error(), "record to "+path) {
		t.Fatalf("err = %v", err)
	}
	if _, err := OpenRecorder(filepath.Join(t.TempDir(), "nodir", "rec.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
}
