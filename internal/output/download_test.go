package output

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pattern returns n deterministic bytes that differ per seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

// fileServer serves fixed bodies and records concurrency.
type fileServer struct {
	*httptest.Server
	inflight, maxInflight atomic.Int64
	// overlap is closed once two requests are in flight at the same time;
	// until then requests wait for it (bounded), so parallel downloads are
	// observed without depending on timing.
	overlap     chan struct{}
	overlapOnce sync.Once
	requests    atomic.Int64
}

type body struct {
	data        []byte
	contentType string
	noLength    bool
}

func newFileServer(t testing.TB, files map[string]body) *fileServer {
	fs := &fileServer{overlap: make(chan struct{})}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.requests.Add(1)
		n := fs.inflight.Add(1)
		defer fs.inflight.Add(-1)
		for {
			m := fs.maxInflight.Load()
			if n <= m || fs.maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		if n >= 2 {
			fs.overlapOnce.Do(func() { close(fs.overlap) })
		}
		select { // a safety bound only: a correct client never waits here
		case <-fs.overlap:
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
			return
		}

		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", b.contentType)
		if !b.noLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
		}
		// Stream in chunks, flushing, like a CDN would.
		for off := 0; off < len(b.data); off += 256 << 10 {
			end := min(off+256<<10, len(b.data))
			if _, err := w.Write(b.data[off:end]); err != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirNames(t, dir) {
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".part") {
			t.Errorf("temporary file left behind: %s", n)
		}
	}
}

func TestDownload(t *testing.T) {
	big := pattern(8<<20, 1)
	files := map[string]body{
		"/generations/a.png":   {pattern(1000, 2), "image/png", false},
		"/generations/big.mp4": {big, "video/mp4", false},
		"/other/a.png":         {pattern(500, 3), "image/png", false},
		"/noext/abc":           {pattern(300, 4), "image/webp; charset=binary", true},
		"/sniff/blob":          {append(append([]byte{}, pngMagic...), pattern(100, 5)...), "application/octet-stream", false},
		"/":                    {[]byte("root"), "text/plain; charset=utf-8", false},
		"/evil/../../etc/x":    {[]byte("evil"), "text/plain", false},
		`/evil/a\b`:            {[]byte("back"), "image/gif", false},
	}
	srv := newFileServer(t, files)
	dir := filepath.Join(t.TempDir(), "out", "nested") // created by Download

	// A file from an earlier job must survive.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.mp4"), []byte("earlier job"), 0o644); err != nil {
		t.Fatal(err)
	}

	dataPayload := pattern(700, 6)
	urls := []string{
		srv.URL + "/generations/a.png",
		srv.URL + "/generations/big.mp4?sig=1&x=2",
		srv.URL + "/other/a.png",       // same name, different file
		srv.URL + "/generations/a.png", // same URL twice
		srv.URL + "/noext/abc",
		"data:image/png;base64," + base64.StdEncoding.EncodeToString(dataPayload),
		srv.URL + "/sniff/blob",
		srv.URL + "/",
		srv.URL + "/evil/..%2F..%2Fetc%2Fx",
		"data:text/plain,hello%20world",
		srv.URL + "/evil/a%5Cb",
	}
	ios, _, out, errOut := Test()
	paths, err := Download(context.Background(), ios, urls, dir, DownloadOptions{Client: srv.Client(), Progress: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		data []byte
	}{
		{"a.png", files["/generations/a.png"].data},
		{"big-1.mp4", big},
		{"a-1.png", files["/other/a.png"].data},
		{"a-2.png", files["/generations/a.png"].data},
		{"abc.webp", files["/noext/abc"].data},
		{"output-6.png", dataPayload},
		{"blob.png", files["/sniff/blob"].data},
		{"output-8.txt", []byte("root")},
		{"x.txt", []byte("evil")},
		{"output-10.txt", []byte("hello world")},
		{"a_b.gif", []byte("back")},
	}
	if len(paths) != len(want) {
		t.Fatalf("got %d paths, want %d", len(paths), len(want))
	}
	for i, w := range want {
		if got := filepath.Base(paths[i]); got != w.name {
			t.Errorf("paths[%d] = %s, want %s", i, got, w.name)
		}
		if filepath.Dir(paths[i]) != dir {
			t.Errorf("paths[%d] = %s, not in %s", i, paths[i], dir)
		}
		if got := readFile(t, paths[i]); !bytes.Equal(got, w.data) {
			t.Errorf("%s: %d bytes, want %d (content differs)", w.name, len(got), len(w.data))
		}
	}
	if got := readFile(t, filepath.Join(dir, "big.mp4")); string(got) != "earlier job" {
		t.Error("an existing file was overwritten")
	}
	if m := srv.maxInflight.Load(); m < 2 {
		t.Errorf("max concurrent requests = %d, want > 1", m)
	}
	assertNoTemp(t, dir)
	if out.Len() != 0 || errOut.Len() != 0 {
		t.Errorf("off a terminal Download printed: stdout %q stderr %q", out, errOut)
	}
	if fi, err := os.Stat(paths[0]); err != nil || fi.Mode().Perm()&0o600 != 0o600 {
		t.Errorf("mode of %s: %v %v", paths[0], fi.Mode(), err)
	}
}

func TestDownloadParallelOneIsSequential(t *testing.T) {
	srv := newFileServer(t, map[string]body{"/a.png": {[]byte("a"), "image/png", false}})
	close(srv.overlap) // do not wait for overlap
	srv.overlapOnce.Do(func() {})
	ios, _, _, _ := Test()
	_, err := Download(context.Background(), ios, []string{srv.URL + "/a.png", srv.URL + "/a.png", srv.URL + "/a.png"},
		t.TempDir(), DownloadOptions{Client: srv.Client(), Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m := srv.maxInflight.Load(); m != 1 {
		t.Errorf("Parallel 1: max concurrent requests = %d", m)
	}
}

func TestDownloadExpiredLink(t *testing.T) {
	srv := newFileServer(t, map[string]body{"/ok.png": {[]byte("ok"), "image/png", false}})
	close(srv.overlap)
	srv.overlapOnce.Do(func() {})
	dir := t.TempDir()
	ios, _, _, _ := Test()
	missing := srv.URL + "/generations/gone.png"
	paths, err := Download(context.Background(), ios, []string{srv.URL + "/ok.png", missing, srv.URL + "/ok.png"},
		dir, DownloadOptions{Client: srv.Client(), Parallel: 1})
	if err == nil {
		t.Fatal("no error for a 404")
	}
	if !errors.Is(err, ErrLinkExpired) {
		t.Errorf("error does not wrap ErrLinkExpired: %v", err)
	}
	var de *DownloadError
	if !errors.As(err, &de) || de.StatusCode != 404 || de.URL != missing {
		t.Errorf("error = %#v", err)
	}
	msg := err.Error()
	for _, s := range []string{missing, "expired", "24 h", "404"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	// The first file completed before the failure and remains; nothing else.
	if filepath.Base(paths[0]) != "ok.png" || paths[1] != "" || paths[2] != "" {
		t.Errorf("paths = %q", paths)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "ok.png" {
		t.Errorf("dir holds %q", names)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Errorf("%d requests: the download after the failure was not cancelled", n)
	}
}

func TestDownloadOtherHTTPError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	ios, _, _, _ := Test()
	_, err := Download(context.Background(), ios, []string{srv.URL + "/x.png"}, t.TempDir(), DownloadOptions{Client: srv.Client()})
	if err == nil || errors.Is(err, ErrLinkExpired) || !strings.Contains(err.Error(), "500") {
		t.Errorf("err = %v", err)
	}
}

func TestDownloadCancelMidway(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(64<<20))
		_, _ = w.Write(pattern(1<<20, 9))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done() // never finishes on its own
	}))
	defer srv.Close()

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	ios, _, _, _ := Test()
	paths, err := Download(ctx, ios, []string{srv.URL + "/v.mp4"}, dir, DownloadOptions{Client: srv.Client()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !strings.Contains(err.Error(), srv.URL+"/v.mp4") {
		t.Errorf("error does not name the URL: %v", err)
	}
	if paths[0] != "" {
		t.Errorf("paths = %q", paths)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("files left after cancel: %q", names)
	}
}

func TestDownloadTruncatedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte("short"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ios, _, _, _ := Test()
	_, err := Download(context.Background(), ios, []string{srv.URL + "/x.bin"}, dir, DownloadOptions{Client: srv.Client()})
	if err == nil {
		t.Fatal("no error for a truncated body")
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("partial file left: %q", names)
	}
}

func TestDownloadProgressOnTTYOnly(t *testing.T) {
	srv := newFileServer(t, map[string]body{
		"/a.png": {pattern(300<<10, 1), "image/png", false},
		"/b":     {pattern(300<<10, 2), "image/png", true},
	})
	urls := []string{srv.URL + "/a.png", srv.URL + "/b"}

	ios, _, out, errOut := Test()
	ios.SetStderrTTY(true)
	if _, err := Download(context.Background(), ios, urls, t.TempDir(), DownloadOptions{Client: srv.Client(), Progress: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "downloading 2 files") {
		t.Errorf("no progress bar on a terminal stderr: %q", errOut)
	}
	if out.Len() != 0 {
		t.Errorf("progress on stdout: %q", out)
	}

	ios, _, out, errOut = Test()
	ios.SetStderrTTY(true)
	if _, err := Download(context.Background(), ios, urls, t.TempDir(), DownloadOptions{Client: srv.Client(), Progress: false}); err != nil {
		t.Fatal(err)
	}
	if out.Len()+errOut.Len() != 0 {
		t.Errorf("Progress false still drew: %q", errOut)
	}
}

func TestDownloadRejectsUnknownEntries(t *testing.T) {
	ios, _, _, _ := Test()
	for _, u := range []string{"", "ftp://x/y.png", "file:///etc/passwd", "not a url"} {
		_, err := Download(context.Background(), ios, []string{u}, t.TempDir(), DownloadOptions{})
		if err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

func TestDownloadBareBase64(t *testing.T) {
	payload := append(append([]byte{}, pngMagic...), pattern(200, 8)...)
	enc := base64.RawStdEncoding.EncodeToString(payload) // unpadded
	dir := t.TempDir()
	ios, _, _, _ := Test()
	paths, err := Download(context.Background(), ios, []string{enc}, dir, DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(paths[0]) != "output-1.png" || !bytes.Equal(readFile(t, paths[0]), payload) {
		t.Errorf("got %s", paths[0])
	}
}

func TestDownloadLongDataURIErrorIsShort(t *testing.T) {
	u := "data:image/png;base64," + strings.Repeat("@", 10000) // invalid base64
	ios, _, _, _ := Test()
	dir := t.TempDir()
	_, err := Download(context.Background(), ios, []string{u}, dir, DownloadOptions{})
	if err == nil {
		t.Fatal("no error for invalid base64")
	}
	if len(err.Error()) > 300 {
		t.Errorf("error message is %d bytes long", len(err.Error()))
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("files left: %q", names)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"image.png":                       "image.png",
		"..":                              "",
		".":                               "",
		"/":                               "",
		".hidden.png":                     "hidden.png",
		"a..b.png":                        "a.b.png",
		`a\b.png`:                         "a_b.png",
		"a/b":                             "a_b",
		"x\x00y\n.png":                    "x_y_.png",
		"what?.png":                       "what_.png",
		"CON.png":                         "_CON.png",
		"trailing. ":                      "trailing",
		"___":                             "",
		"ünïcödé.webp":                    "ünïcödé.webp",
		strings.Repeat("a", 300) + ".png": strings.Repeat("a", 196) + ".png",
	} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExtForType(t *testing.T) {
	for in, want := range map[string]string{
		"image/png":                 ".png",
		"image/jpeg":                ".jpg",
		"video/mp4; codecs=avc1":    ".mp4",
		"application/octet-stream":  "",
		"":                          "",
		"model/gltf-binary":         ".glb",
		"text/plain; charset=utf-8": ".txt",
	} {
		if got := extForType(in); got != want {
			t.Errorf("extForType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFinalizeNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"x.png", "x-1.png"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, ".mlab-test.part")
	if err := os.WriteFile(tmp, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := finalize(tmp, dir, "x.png")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "x-2.png" || string(readFile(t, p)) != "new" {
		t.Errorf("got %s", p)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Error("temporary file not removed")
	}
}

// BenchmarkDownload streams a 64 MiB body to disk; B/op stays far below the
// body size because nothing is buffered in memory.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	chunk := pattern(64<<10, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	root := b.TempDir()
	ios, _, _, _ := Test()
	b.SetBytes(size)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dir := filepath.Join(root, fmt.Sprint(i))
		i++
		paths, err := Download(context.Background(), ios, []string{srv.URL + "/v.mp4"}, dir, DownloadOptions{Client: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if fi, err := os.Stat(paths[0]); err != nil || fi.Size() != size {
			b.Fatalf("%v %v", fi, err)
		}
		_ = os.RemoveAll(dir)
		b.StartTimer()
	}
}

// TestDownloadConstantMemory fails if a download buffers the body: the
// heap allocated while streaming 32 MiB must stay a small fraction of it.
func TestDownloadConstantMemory(t *testing.T) {
	const size = 32 << 20
	chunk := pattern(64<<10, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	ios, _, _, _ := Test()
	ios.SetStderrTTY(true) // include the progress bar
	dir := t.TempDir()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	paths, err := Download(context.Background(), ios, []string{srv.URL + "/v.mp4"}, dir, DownloadOptions{Client: srv.Client(), Progress: true})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(paths[0]); err != nil || fi.Size() != size {
		t.Fatalf("%v %v", fi, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("allocated %d bytes to download %d", alloc, size)
	}
}
