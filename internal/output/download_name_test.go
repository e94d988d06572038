package output

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func TestNameTemplate(t *testing.T) {
	v := NameVars{ID: "134701497", TrackID: "mlab-ab12", Prompt: "A Lighthouse, at DUSK!  ../../etc", Endpoint: "text2img", Line: 3}
	cases := []struct {
		tmpl         string
		n, total     int
		urlName, ext string
		want         string
	}{
		{"{id}-{n}.{ext}", 1, 2, "x.png", ".png", "134701497-1.png"},
		{"{id}", 1, 1, "x.png", ".png", "134701497.png"},   // {ext} missing: appended
		{"{id}", 2, 2, "x.png", ".png", "134701497-2.png"}, // {n} missing, several outputs: -N
		{"shot.png", 1, 1, "x.png", ".png", "shot.png"},    // ends with the extension already
		{"{prompt}", 1, 1, "x.jpg", ".jpg", "a-lighthouse-at-dusk-etc.jpg"},
		{"{line}-{track_id}-{endpoint}", 1, 1, "x.mp4", ".mp4", "3-mlab-ab12-text2img.mp4"},
		{"{name}-v2.{ext}", 1, 1, "134701497-0.png", ".png", "134701497-0-v2.png"},
		{"{id}.{ext}", 1, 1, "output-1", "", "134701497"}, // no extension known: no trailing dot
		// separators and traversal never survive
		{"../../{id}/../x.{ext}", 1, 1, "x.png", ".png", "_._134701497_._x.png"},
		{"/etc/passwd", 1, 1, "x.png", ".png", "_etc_passwd.png"},
	}
	for _, c := range cases {
		tm, err := ParseNameTemplate(c.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		got := tm.Expand(v, c.n, c.total, c.urlName, c.ext)
		if got != c.want {
			t.Errorf("%q (n %d of %d, %q, %q) = %q, want %q", c.tmpl, c.n, c.total, c.urlName, c.ext, got, c.want)
		}
		if strings.ContainsAny(got, `/\`) || strings.Contains(got, "..") {
			t.Errorf("%q gives a name that leaves the directory: %q", c.tmpl, got)
		}
	}
	for _, bad := range []string{"", "  ", "{nope}", "{id", "id}", "{}", "/", "..", "../.."} {
		if _, err := ParseNameTemplate(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"A Lighthouse, at DUSK!":         "a-lighthouse-at-dusk",
		"  --Ünïcödé café 東京  ":          "ünïcödé-café-東京",
		"\x1b[31mred\x1b[0m":             "31mred-0m",
		"":                               "",
		strings.Repeat("word ", 30):      "word-word-word-word-word-word-word-word-word",
		"../../etc/passwd":               "etc-passwd",
		strings.Repeat("é", 40) + " end": strings.Repeat("é", 24),
	} {
		if got := Slug(in, maxPromptSlug); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
		if got := Slug(in, maxPromptSlug); len(got) > maxPromptSlug {
			t.Errorf("Slug(%q) is %d bytes", in, len(got))
		}
	}
}

// countingServer serves a PNG at every path and counts the GETs.
func countingServer(t *testing.T, gets *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write(append(append([]byte(nil), pngMagic...), r.URL.Path...))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDownloadExisting(t *testing.T) {
	var gets atomic.Int64
	srv := countingServer(t, &gets)
	dir := t.TempDir()
	old := []byte("the file that was there")
	if err := os.WriteFile(filepath.Join(dir, "a.png"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	urls := []string{srv.URL + "/g/a.png"}

	// Default: kept, the new one numbered, a warning says so.
	ios, _, _, errOut := Test()
	paths, err := Download(context.Background(), ios, urls, dir, DownloadOptions{})
	if err != nil || paths[0] != filepath.Join(dir, "a-1.png") {
		t.Fatalf("rename: %v %v", paths, err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "a.png")), old) {
		t.Fatal("the existing file changed")
	}
	if want := "a.png already exists: saved as " + filepath.Join(dir, "a-1.png") + " (--overwrite replaces it, --skip-existing keeps it)"; !strings.Contains(errOut.String(), want) {
		t.Fatalf("warning %q, want %q", errOut, want)
	}

	// Skip: the existing file is the output; with an extension in the URL,
	// not even a request.
	ios, _, _, errOut = Test()
	before := gets.Load()
	paths, err = Download(context.Background(), ios, urls, dir, DownloadOptions{Existing: ExistingSkip})
	if err != nil || paths[0] != filepath.Join(dir, "a.png") || gets.Load() != before {
		t.Fatalf("skip: %v %v, %d requests", paths, err, gets.Load()-before)
	}
	if !strings.Contains(errOut.String(), "a.png is already there: kept, not downloaded") {
		t.Fatalf("skip note: %q", errOut)
	}
	// A URL without an extension: its type decides the name, so its
	// headers are read, the body is not saved.
	os.WriteFile(filepath.Join(dir, "noext.png"), old, 0o644)
	paths, err = Download(context.Background(), nil, []string{srv.URL + "/g/noext"}, dir, DownloadOptions{Existing: ExistingSkip})
	if err != nil || paths[0] != filepath.Join(dir, "noext.png") || !bytes.Equal(readFile(t, paths[0]), old) {
		t.Fatalf("skip without extension: %v %v", paths, err)
	}

	// Overwrite: replaced in place.
	ios, _, _, errOut = Test()
	paths, err = Download(context.Background(), ios, urls, dir, DownloadOptions{Existing: ExistingOverwrite})
	if err != nil || paths[0] != filepath.Join(dir, "a.png") {
		t.Fatalf("overwrite: %v %v", paths, err)
	}
	if bytes.Equal(readFile(t, paths[0]), old) || errOut.Len() != 0 {
		t.Fatalf("not replaced, or a warning: %q", errOut)
	}
	// A directory of that name is not replaced.
	os.Mkdir(filepath.Join(dir, "d.png"), 0o755)
	if _, err := Download(context.Background(), nil, []string{srv.URL + "/g/d.png"}, dir, DownloadOptions{Existing: ExistingOverwrite}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("overwrite of a directory: %v", err)
	}

	// One call's own files never replace or skip each other: the same URL
	// twice gives two files, whatever the policy, with no warning.
	for _, ex := range []Existing{ExistingRename, ExistingOverwrite, ExistingSkip} {
		d := t.TempDir()
		ios, _, _, errOut := Test()
		paths, err := Download(context.Background(), ios, []string{srv.URL + "/g/b.png", srv.URL + "/g/b.png"}, d, DownloadOptions{Existing: ex})
		if err != nil || !slices.Equal(paths, []string{filepath.Join(d, "b.png"), filepath.Join(d, "b-1.png")}) {
			t.Errorf("policy %d: %v %v", ex, paths, err)
		}
		if errOut.Len() != 0 {
			t.Errorf("policy %d: %q", ex, errOut)
		}
		assertNoTemp(t, d)
	}
	assertNoTemp(t, dir)
}

func TestDownloadNamed(t *testing.T) {
	var gets atomic.Int64
	srv := countingServer(t, &gets)
	dir := t.TempDir()
	tm, err := ParseNameTemplate("{prompt}-{n}.{ext}")
	if err != nil {
		t.Fatal(err)
	}
	opts := DownloadOptions{Name: tm, Job: NameVars{ID: "7", Prompt: "Red fox"}}
	paths, err := Download(context.Background(), nil, []string{srv.URL + "/g/7-0.png", srv.URL + "/g/7-1"}, dir, opts)
	if err != nil || !slices.Equal(paths, []string{filepath.Join(dir, "red-fox-1.png"), filepath.Join(dir, "red-fox-2.png")}) {
		t.Fatalf("%v %v", paths, err)
	}
	// Skip knows the templated name before any request.
	opts.Existing = ExistingSkip
	before := gets.Load()
	paths, err = Download(context.Background(), nil, []string{srv.URL + "/g/7-0.png"}, dir, opts)
	if err != nil || paths[0] != filepath.Join(dir, "red-fox-1.png") || gets.Load() != before {
		t.Fatalf("skip by template: %v %v", paths, err)
	}
}
