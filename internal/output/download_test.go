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
	"unicode"
	"unicode/utf8"
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
	// Off a terminal nothing but the warning about the file that was there.
	wantErr := "! " + filepath.Join(dir, "big.mp4") + " already exists: saved as " + filepath.Join(dir, "big-1.mp4") + " (--overwrite replaces it, --skip-existing keeps it)\n"
	if out.Len() != 0 || errOut.String() != wantErr {
		t.Errorf("off a terminal Download printed: stdout %q stderr %q, want only %q", out, errOut, wantErr)
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

// endlessServer answers every request with an endless body of declared
// type contentType and no Content-Length. So that a client without a cap
// cannot fill the disk, it stops writing after safety bytes and then
// holds the connection open until the client goes away. sent counts the
// body bytes written.
func endlessServer(t *testing.T, contentType string, safety int64, sent *atomic.Int64) *httptest.Server {
	t.Helper()
	chunk := pattern(64<<10, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		for sent.Load() < safety {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// assertTooLarge checks that err is a *DownloadError for u caused by a
// *TooLargeError with the given limit and declared size, and that its
// message names the limit and how to raise it without naming a flag.
func assertTooLarge(t *testing.T, err error, u string, limit, size int64, limitText string) {
	t.Helper()
	var de *DownloadError
	if !errors.As(err, &de) || de.URL != u {
		t.Fatalf("err = %v (%T), want a *DownloadError for %s", err, err, u)
	}
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("err = %v, want a *TooLargeError", err)
	}
	if tl.Limit != limit || tl.Size != size {
		t.Errorf("TooLargeError = %+v, want Limit %d Size %d", *tl, limit, size)
	}
	msg := err.Error()
	for _, s := range []string{limitText, "raise the download size limit"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	if strings.Contains(msg, "--") {
		t.Errorf("message %q names a flag", msg)
	}
}

func TestDownloadEndlessBodyStopsAtCap(t *testing.T) {
	const limit = 32_000_000
	var sent atomic.Int64
	srv := endlessServer(t, "image/png", 256<<20, &sent)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ios, _, _, _ := Test()
	u := srv.URL + "/generations/x.png"

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	paths, err := Download(ctx, ios, []string{u}, dir, DownloadOptions{Client: srv.Client(), MaxBytes: limit})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	assertTooLarge(t, err, u, limit, -1, "32.0 MB")
	if elapsed > 5*time.Second {
		t.Errorf("stopping at the cap took %v", elapsed)
	}
	if paths[0] != "" {
		t.Errorf("paths = %q", paths)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("files left after the cap: %q", names)
	}
	// The server keeps writing into socket buffers for a moment; anything
	// near its safety bound means the client kept reading past the cap.
	if n := sent.Load(); n > limit+64<<20 {
		t.Errorf("server sent %d bytes for a %d byte cap", n, limit)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit/4 {
		t.Errorf("allocated %d bytes while refusing a body over %d", alloc, limit)
	}
}

func TestDownloadDeclaredLengthOverCap(t *testing.T) {
	var wrote atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := r.URL.Query().Get("size")
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", size)
		n, _ := w.Write(pattern(64<<10, 4))
		wrote.Add(int64(n))
		w.(http.Flusher).Flush()
		select { // never completes the declared body
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	ios, _, _, _ := Test()

	for _, tc := range []struct {
		name      string
		max       int64
		size      int64
		limit     int64
		limitText string
	}{
		{"explicit cap", 1_000_000, 10 << 30, 1_000_000, "1.0 MB"},
		{"default cap", 0, 3 << 30, DefaultMaxBytes, "2000.0 MB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			u := srv.URL + "/v.mp4?size=" + strconv.FormatInt(tc.size, 10)
			start := time.Now()
			paths, err := Download(ctx, ios, []string{u}, dir, DownloadOptions{Client: srv.Client(), MaxBytes: tc.max})
			assertTooLarge(t, err, u, tc.limit, tc.size, tc.limitText)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing a declared length took %v", d)
			}
			if paths[0] != "" {
				t.Errorf("paths = %q", paths)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("files left: %q", names)
			}
		})
	}

	t.Run("no cap", func(t *testing.T) {
		// A negative MaxBytes lifts the cap: the 3 GiB declaration is
		// accepted and the download fails only because the body stops.
		short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.FormatInt(3<<30, 10))
			_, _ = w.Write([]byte("short"))
		}))
		defer short.Close()
		dir := t.TempDir()
		_, err := Download(context.Background(), ios, []string{short.URL + "/v.mp4"}, dir, DownloadOptions{Client: short.Client(), MaxBytes: -1})
		var tl *TooLargeError
		if err == nil || errors.As(err, &tl) {
			t.Errorf("err = %v, want a truncated-body error", err)
		}
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("files left: %q", names)
		}
	})
}

func TestDownloadCapAppliesToDataURIs(t *testing.T) {
	ios, _, _, _ := Test()
	dir := t.TempDir()
	u := "data:text/plain," + strings.Repeat("a", 2000)
	_, err := Download(context.Background(), ios, []string{u}, dir, DownloadOptions{MaxBytes: 1000})
	assertTooLarge(t, err, u, 1000, -1, "1.0 KB")
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("files left: %q", names)
	}
	// Exactly at the cap is fine.
	paths, err := Download(context.Background(), ios, []string{"data:text/plain," + strings.Repeat("b", 1000)}, dir, DownloadOptions{MaxBytes: 1000})
	if err != nil || len(readFile(t, paths[0])) != 1000 {
		t.Errorf("a body of exactly the cap: %v", err)
	}
}

func TestDownloadRejectsErrorPages(t *testing.T) {
	const (
		page   = "<html><head><title>403</title></head><body>Access denied</body></html>"
		xmlErr = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`
	)
	files := map[string]body{
		"/a.png":   {[]byte(page), "text/html; charset=utf-8", false},
		"/B.JPG":   {[]byte(page), "TEXT/HTML", false},
		"/c.jpeg":  {[]byte("\r\n  \t<!DOCTYPE html>\n<html><body>oops</body></html>"), "application/octet-stream", false},
		"/d.mp4":   {[]byte(xmlErr), "video/mp4", false},
		"/e.webp":  {[]byte(xmlErr), "application/xml", false},
		"/f.glb":   {[]byte(xmlErr), "text/xml", false},
		"/g.wav":   {[]byte(page), "application/xhtml+xml", false},
		"/h.gif":   {[]byte("\xef\xbb\xbf<HTML><body>bom</body></HTML>"), "image/gif", true},
		"/i.zip":   {[]byte("  <?XML version='1.0'?><x/>"), "application/zip", false},
		"/j.mp3":   {[]byte("<!doctype html><p>bye"), "audio/mpeg", false},
		"/generic": {[]byte(page), "text/html", false}, // no extension: only with ExpectMedia
		"/k":       {[]byte(xmlErr), "image/png", false},
	}
	srv := newFileServer(t, files)
	close(srv.overlap)
	srv.overlapOnce.Do(func() {})
	ios, _, _, _ := Test()

	for p := range files {
		t.Run(strings.TrimPrefix(p, "/"), func(t *testing.T) {
			dir := t.TempDir()
			u := srv.URL + p + "?X-Amz-Signature=abc"
			paths, err := Download(context.Background(), ios, []string{u}, dir,
				DownloadOptions{Client: srv.Client(), ExpectMedia: p == "/generic"})
			var de *DownloadError
			if !errors.As(err, &de) || de.URL != u {
				t.Fatalf("err = %v, want a *DownloadError for %s", err, u)
			}
			var ep *ErrorPageError
			if !errors.As(err, &ep) {
				t.Fatalf("err = %v, want an *ErrorPageError", err)
			}
			if !strings.Contains(err.Error(), "not a file (an error page?)") {
				t.Errorf("message %q", err)
			}
			wantKind := "an HTML page"
			if strings.Contains(string(files[p].data), "<?") {
				wantKind = "an XML document"
			}
			if !strings.Contains(err.Error(), "answered "+wantKind) {
				t.Errorf("message %q does not say it answered %s", err, wantKind)
			}
			if paths[0] != "" {
				t.Errorf("paths = %q", paths)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("files saved: %q", names)
			}
		})
	}
}

func TestDownloadKeepsTextOutputs(t *testing.T) {
	svg := `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`
	files := map[string]body{
		"/r.json":  {[]byte(`{"ok":true}`), "application/json", false},
		"/r.txt":   {[]byte("<html>not a page, a text output</html>"), "text/plain", false},
		"/r.xml":   {[]byte(`<?xml version="1.0"?><r/>`), "application/xml", false},
		"/pic.svg": {[]byte(svg), "image/svg+xml", false},
		"/page":    {[]byte("<html><body>hi</body></html>"), "text/html", false},
		"/p.png":   {append(append([]byte{}, pngMagic...), []byte("<html>")...), "image/png", false},
	}
	srv := newFileServer(t, files)
	close(srv.overlap)
	srv.overlapOnce.Do(func() {})
	ios, _, _, _ := Test()

	for _, tc := range []struct {
		url, want string
		media     bool
	}{
		{srv.URL + "/r.json", "r.json", true},
		{srv.URL + "/r.txt", "r.txt", true},
		{srv.URL + "/r.xml", "r.xml", true},
		{srv.URL + "/pic.svg", "pic.svg", true},
		{srv.URL + "/page", "page.html", false}, // no extension and no expectation: kept as before
		{srv.URL + "/p.png", "p.png", true},
		{"data:text/html,%3Chtml%3E%3C%2Fhtml%3E", "output-1.html", true},
	} {
		dir := t.TempDir()
		paths, err := Download(context.Background(), ios, []string{tc.url}, dir, DownloadOptions{Client: srv.Client(), ExpectMedia: tc.media})
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if got := filepath.Base(paths[0]); got != tc.want {
			t.Errorf("%s saved as %s, want %s", tc.url, got, tc.want)
		}
	}
}

// agePart creates dir/name with the given content and modification time.
func agePart(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDownloadRemovesStaleParts(t *testing.T) {
	srv := newFileServer(t, map[string]body{"/a.png": {[]byte("a"), "image/png", false}})
	close(srv.overlap)
	srv.overlapOnce.Do(func() {})
	dir := t.TempDir()

	stale := agePart(t, dir, ".mlab-0123456789abcdef.part", 2*time.Hour)
	keep := []string{
		agePart(t, dir, ".mlab-fedcba9876543210.part", 0),              // being written right now
		agePart(t, dir, ".mlab-00112233445566aa.part", 30*time.Minute), // recent
		agePart(t, dir, ".mlab-test.part", 48*time.Hour),               // not our pattern
		agePart(t, dir, ".mlab-0123456789ABCDEF.part", 48*time.Hour),   // not our pattern
		agePart(t, dir, ".mlab-0123456789abcdef.part.png", 48*time.Hour),
		agePart(t, dir, "old.part", 48*time.Hour),
		agePart(t, dir, "photo.png", 48*time.Hour),
	}
	sub := filepath.Join(dir, ".mlab-aaaaaaaaaaaaaaaa.part") // a directory, not a part file
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(sub, old, old); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, sub)
	if runtime.GOOS != "windows" {
		target := agePart(t, t.TempDir(), "target", 48*time.Hour)
		link := filepath.Join(dir, ".mlab-bbbbbbbbbbbbbbbb.part")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		keep = append(keep, link, target)
	}

	ios, _, _, _ := Test()
	if _, err := Download(context.Background(), ios, []string{srv.URL + "/a.png"}, dir, DownloadOptions{Client: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale part file %s not removed (%v)", filepath.Base(stale), err)
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}

// TestDownloadSparesLivePartFiles runs a second Download into a directory
// while a first one is streaming there: the first one's part file is in
// use and must survive, so the first download completes.
func TestDownloadSparesLivePartFiles(t *testing.T) {
	first := pattern(256<<10, 7)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		if r.URL.Path == "/fast.png" {
			_, _ = w.Write([]byte("fast"))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(2*len(first)))
		_, _ = w.Write(first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(first)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ios, _, _, _ := Test()

	type result struct {
		paths []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Download(context.Background(), ios, []string{srv.URL + "/slow.png"}, dir, DownloadOptions{Client: srv.Client()})
		done <- result{p, err}
	}()
	// Wait until the first download's part file holds its first half.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var size int64
		for _, n := range dirNames(t, dir) {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && strings.HasSuffix(n, ".part") {
				size = fi.Size()
			}
		}
		if size == int64(len(first)) {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the first download never wrote its part file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := Download(context.Background(), ios, []string{srv.URL + "/fast.png"}, dir, DownloadOptions{Client: srv.Client()}); err != nil {
		t.Fatal(err)
	}
	close(release)
	r := <-done
	if r.err != nil {
		t.Fatalf("the live download failed: %v", r.err)
	}
	if got := readFile(t, r.paths[0]); len(got) != 2*len(first) {
		t.Errorf("live download has %d bytes, want %d", len(got), 2*len(first))
	}
	assertNoTemp(t, dir)
}

func TestSanitizeNameFormatCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"invoice\u202Egnp.exe":             "invoicegnp.exe",
		"\u202Aa\u202Bb\u202Cc\u202Dd.png": "abcd.png",
		"\u2066x\u2067y\u2068z\u2069.png":  "xyz.png",
		"l\u200Er\u200Fa\u061C.png":        "lra.png",
		"zero\u200Bwidth\u2060.png":        "zerowidth.png",
		"\uFEFFbom.png":                    "bom.png",
		"soft\u00ADhyphen.png":             "softhyphen.png",
		"tag\U000E0041.png":                "tag.png",
		"c1\u009B31m\u0085.png":            "c1_31m_.png",
		"line\u2028sep\u2029.png":          "line_sep_.png",
		"\u202E\u202E":                     "",
		".\u202E.hidden.png":               "hidden.png",
		"CON.tar.gz":                       "_CON.tar.gz",
		"emoji\U0001F600.png":              "emoji\U0001F600.png",
	} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDownloadStripsBidiFromURLNames(t *testing.T) {
	srv := newFileServer(t, map[string]body{"/invoice\u202Egnp.png": {[]byte("x"), "image/png", false}})
	close(srv.overlap)
	srv.overlapOnce.Do(func() {})
	ios, _, _, _ := Test()
	paths, err := Download(context.Background(), ios, []string{srv.URL + "/invoice%E2%80%AEgnp.png"}, t.TempDir(), DownloadOptions{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if got := filepath.Base(paths[0]); got != "invoicegnp.png" {
		t.Errorf("saved as %q", got)
	}
}

// FuzzSanitizeName checks that every name sanitizeName returns is a
// single, visible, non-hidden file name: no separators, no control,
// format or bidi characters, never "." or "..", valid UTF-8, bounded,
// stable when sanitised again, and empty only when the input held no
// letter or digit that could name the file (or was so long that the cut
// kept none).
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{
		"image.png", "..", ".", "/", `a\b`, "a/../b", "\u202Egnp.exe", "CON", "con.tar.gz",
		"x\x00y", strings.Repeat("a", 300) + ".png", strings.Repeat(".", 300) + "a",
		strings.Repeat("é", 150) + "." + strings.Repeat("b", 20), "\xff\xfe", " . ", "a. .b",
		strings.Repeat("a", 199) + "..png", "\u200f\u061c", "_\u2066_", strings.Repeat(`"`, 250) + " 0",
		"CON." + strings.Repeat("x", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := sanitizeName(in)
		if out == "" {
			if len(in) > maxNameBytes {
				return // the cut may keep only underscores: the fallback name is used
			}
			for _, r := range in {
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					t.Fatalf("sanitizeName(%q) is empty though the input has %q", in, r)
				}
			}
			return
		}
		if out == "." || out == ".." || strings.HasPrefix(out, ".") || strings.Contains(out, "..") {
			t.Fatalf("sanitizeName(%q) = %q: a dot name", in, out)
		}
		if strings.ContainsAny(out, `/\<>:"|?*`) || !utf8.ValidString(out) {
			t.Fatalf("sanitizeName(%q) = %q: a separator, reserved or invalid byte", in, out)
		}
		if strings.HasSuffix(out, ".") || strings.HasSuffix(out, " ") {
			t.Fatalf("sanitizeName(%q) = %q: a trailing dot or space", in, out)
		}
		for _, r := range out {
			if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
				t.Fatalf("sanitizeName(%q) = %q: holds %U", in, out, r)
			}
		}
		if len(out) > maxNameBytes+1 {
			t.Fatalf("sanitizeName(%q) is %d bytes", in, len(out))
		}
		if again := sanitizeName(out); again != out {
			t.Fatalf("sanitizeName(%q) = %q, but sanitizeName(%q) = %q", in, out, out, again)
		}
	})
}
