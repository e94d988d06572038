package output

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/mlabcli/mlab/internal/ids"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultParallel is the number of downloads [Download] runs at once when
// DownloadOptions.Parallel is not set.
const DefaultParallel = 4

// ErrLinkExpired is wrapped by the error [Download] returns when an output
// link answers 403, 404 or 410: ModelsLab's temporary links are deleted
// after 24 hours. Test for it with errors.Is.
var ErrLinkExpired = errors.New("the output link may have expired (temporary links last 24 h)")

// DownloadOptions tunes [Download].
type DownloadOptions struct {
	// Client does the requests; nil means http.DefaultClient. Set no
	// overall Timeout on it for large files: cancel the context instead.
	Client *http.Client
	// Parallel is the number of downloads at once; 0 or less means
	// DefaultParallel.
	Parallel int
	// Progress asks for an aggregate byte progress bar on standard error.
	// It is drawn only when standard error is a terminal.
	Progress bool
	// UserAgent, when set, is sent as the User-Agent header.
	UserAgent string
	// MaxBytes caps the size of each file: an output whose declared
	// Content-Length is over it, or whose body streams past it, fails
	// with a [*TooLargeError] and nothing is saved for it. 0 means
	// DefaultMaxBytes; a negative value means no cap.
	MaxBytes int64
	// ExpectMedia says every output should be a media file (image, video,
	// audio, 3D model), so that an HTML or XML answer is rejected as an
	// error page even for a link without a media extension. Links with a
	// media extension, or answers declared as media, are checked anyway;
	// text links (.txt, .json, .svg, ...) and data: URIs never are.
	ExpectMedia bool
	// Existing says what happens when a file of the chosen name is
	// already in the directory: by default the new file is numbered and
	// a warning says so.
	Existing Existing
	// Name, if set, names the files from Job (see [NameTemplate]) instead
	// of the URLs' names.
	Name *NameTemplate
	// Job describes the job the files belong to, for Name.
	Job NameVars
}

// DownloadError is the error [Download] returns for one output. It names the
// output (data: URIs shortened) and wraps the cause, which may be
// [ErrLinkExpired], a [*TooLargeError], an [*ErrorPageError], a context
// error, or a network or file system error.
type DownloadError struct {
	// URL is the output entry that failed, as given.
	URL string
	// StatusCode is the HTTP status when the server answered with an
	// error status, else 0.
	StatusCode int
	// Err is the cause.
	Err error
}

// Error implements error: "download <url>: <cause>".
func (e *DownloadError) Error() string {
	return "download " + shortURL(e.URL) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *DownloadError) Unwrap() error { return e.Err }

// shortURL keeps error messages readable when the output is a data: URI
// or a raw base64 string of several megabytes.
func shortURL(u string) string {
	const max = 48
	if len(u) <= 200 || (!strings.HasPrefix(strings.ToLower(u), "data:") && strings.Contains(u, "://")) {
		return u
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(u[cut]) {
		cut--
	}
	return u[:cut] + "…"
}

// Download fetches urls into dir (created with mode 0755 if missing) and
// returns the paths written, in the same order as urls.
//
// Up to opts.Parallel downloads run at once, each streamed into a hidden
// temporary file in dir (constant memory) that is renamed into place only
// when complete, so a failed or cancelled download never leaves a partial
// file behind.
//
// File names come from the last element of the URL path, sanitised (no
// path separators, no "..", no leading dots, no control characters), with
// an extension taken from the Content-Type (or sniffed from the content)
// when the name has none; "output-N" (N counting from 1) when the URL gives
// no usable name; opts.Name, when set, names them from the job instead.
// Names are assigned in the order of urls, so they do not depend on which
// download finishes first, and the files of one call never replace each
// other (the same URL twice gives two files). A file of the same name
// already in dir is kept and the new one gets "-1", "-2", ... before its
// extension, with a warning on standard error ([ExistingRename]); with
// [ExistingOverwrite] it is replaced, with [ExistingSkip] it is kept and
// returned as the output's file, nothing downloaded.
//
// Entries that are "data:<mime>[;base64],<data>" URIs (or bare base64
// text) are decoded and written like downloads.
//
// Each file is capped at opts.MaxBytes ([*TooLargeError]); an HTTP answer
// that should be a media file but is an HTML or XML page is refused
// ([*ErrorPageError]). Before any transfer, part files of earlier
// Download calls into dir that were left by a killed process (unwritten
// for an hour, see removeStaleParts) are removed.
//
// HTTP 403, 404 and 410 yield an error wrapping [ErrLinkExpired]. On any
// error the remaining downloads are cancelled and the first error is
// returned as a [*DownloadError] naming its URL; files already completed
// remain on disk and their paths are in the returned slice ("" for the
// others).
func Download(ctx context.Context, s *IOStreams, urls []string, dir string, opts DownloadOptions) ([]string, error) {
	paths := make([]string, len(urls))
	if len(urls) == 0 {
		return paths, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return paths, fmt.Errorf("create output directory: %w", err)
	}
	removeStaleParts(dir, time.Now())
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	par := opts.Parallel
	if par <= 0 {
		par = DefaultParallel
	}
	par = min(par, len(urls))

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	prog := newByteProgress(s, opts.Progress && s != nil && s.IsStderrTTY(), len(urls))
	defer prog.done()

	maxBytes := opts.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	d := &downloader{client: client, dir: dir, ua: opts.UserAgent, prog: prog,
		maxBytes: maxBytes, expectMedia: opts.ExpectMedia, s: s,
		existing: opts.Existing, name: opts.Name, job: opts.Job, total: len(urls),
		claimed: map[string]bool{}}
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(u string, err error) {
		var de *DownloadError
		if !errors.As(err, &de) {
			err = &DownloadError{URL: u, Err: err}
		}
		errOnce.Do(func() {
			firstErr = err
			cancel(err)
		})
	}

	// finished[i] is closed once entry i has been named (or has failed):
	// entries are named strictly in the order of urls, so names never
	// depend on which transfer ends first.
	finished := make([]chan struct{}, len(urls))
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	finish := func(i int, tmp, name string, err error) {
		defer wg.Done()
		defer close(finished[i])
		if i > 0 {
			<-finished[i-1]
		}
		if err != nil {
			return // already reported by the worker
		}
		if tmp == "" { // kept: the file of that name is the output's
			paths[i] = filepath.Join(dir, name)
			d.keep(paths[i])
			return
		}
		p, err := d.place(tmp, name)
		if err != nil {
			_ = os.Remove(tmp)
			fail(urls[i], err)
			return
		}
		paths[i] = p
	}

	// Workers take entries in order, so with Parallel 1 transfers run
	// strictly one after the other.
	jobs := make(chan int)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				tmp, name, err := d.transfer(ctx, i, urls[i])
				if err != nil {
					fail(urls[i], err) // cancels the others at once
				}
				wg.Add(1)
				go finish(i, tmp, name, err)
			}
		}()
	}
	for i := range urls {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return paths, firstErr
}

// downloader holds what every transfer of one Download call shares.
type downloader struct {
	client      *http.Client
	dir         string
	ua          string
	prog        *byteProgress
	maxBytes    int64 // per file; negative: no cap
	expectMedia bool
	s           *IOStreams // warnings and notes; nil: none
	existing    Existing
	name        *NameTemplate // nil: the URLs' names
	job         NameVars
	total       int // entries in this call

	// claimed are the paths this call wrote (or kept): they are not
	// "existing" files. Guarded by mu (workers read it).
	mu      sync.Mutex
	claimed map[string]bool
}

// source is an opened output entry.
type source struct {
	body io.ReadCloser
	// name is the base file name to use, without a collision suffix and
	// possibly without extension.
	name string
	// mediaType is the declared media type, without parameters; may be "".
	mediaType string
	// size is the declared size in bytes, or -1 when unknown.
	size int64
	// media reports an HTTP answer that must be a media file, not a page.
	media bool
}

// copyBufs recycles copy buffers between transfers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// transfer fetches entry i into a temporary file in d.dir and returns the
// temporary path and the wanted final name; with ExistingSkip and a file
// of that name in d.dir, no temporary path (nothing downloaded).
func (d *downloader) transfer(ctx context.Context, i int, u string) (tmp, name string, err error) {
	if err := context.Cause(ctx); err != nil {
		return "", "", err
	}
	if d.existing == ExistingSkip {
		// When the name is known without asking (an extension in the
		// URL), an existing file costs no request at all.
		if name, ok := d.plannedName(i, u); ok && d.exists(name) {
			return "", name, nil
		}
	}

	src, err := d.open(ctx, i, u)
	if err != nil {
		return "", "", err
	}
	defer src.body.Close()
	r, name, err := d.inspect(src)
	if err != nil {
		return "", "", err
	}
	name = d.nameFor(i, src.name, name)
	if d.existing == ExistingSkip && d.exists(name) {
		return "", name, nil // headers (and a sniffed head) only
	}
	if d.maxBytes >= 0 {
		r = &capReader{r: r, left: d.maxBytes, limit: d.maxBytes}
	}

	f, tmpPath, err := createTemp(d.dir)
	if err != nil {
		return "", "", err
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmpPath)
		}
	}()

	d.prog.expect(src.size)
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	w := &countingWriter{w: f, prog: d.prog, known: src.size >= 0}
	if _, err := io.CopyBuffer(w, r, *bufp); err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			err = cerr
		}
		return "", "", unwrapURLError(err)
	}
	if err := f.Close(); err != nil {
		return "", "", err
	}
	ok = true
	return tmpPath, name, nil
}

// inspect looks at the first bytes of src when it must: to refuse an
// error page where a media file is due, and to pick an extension for a
// name without one. It returns the reader to copy from (nothing read is
// lost) and the final base name.
func (d *downloader) inspect(src source) (io.Reader, string, error) {
	if src.media && pageTypes[src.mediaType] {
		return nil, "", &ErrorPageError{ContentType: src.mediaType}
	}
	name := src.name
	ext := ""
	if filepath.Ext(name) == "" {
		ext = extForType(src.mediaType)
	}
	if !src.media && (ext != "" || filepath.Ext(name) != "") {
		return src.body, name + ext, nil
	}
	// Peek at the first bytes (buffered, so nothing is lost).
	br := bufio.NewReaderSize(src.body, 512)
	head, _ := br.Peek(512)
	if src.media {
		if pt := sniffPage(head); pt != "" {
			return nil, "", &ErrorPageError{ContentType: pt}
		}
	}
	if filepath.Ext(name) == "" && ext == "" {
		ext = extForType(http.DetectContentType(head))
	}
	return br, name + ext, nil
}

// unwrapURLError drops the *url.Error wrapper ("Get \"<url>\": ...") since
// DownloadError already names the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// open returns the opened entry i. An HTTP answer whose declared length
// is over the cap is refused here, before anything is read.
func (d *downloader) open(ctx context.Context, i int, u string) (source, error) {
	fallback := "output-" + strconv.Itoa(i+1)
	trimmed := strings.TrimSpace(u)
	if trimmed == "" {
		return source{}, errors.New("empty output entry")
	}
	if len(trimmed) > 5 && strings.EqualFold(trimmed[:5], "data:") {
		r, mediaType, err := openDataURI(trimmed)
		if err != nil {
			return source{}, err
		}
		return source{body: r, name: fallback, mediaType: mediaType, size: -1}, nil
	}
	pu, err := url.Parse(trimmed)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		if looksLikeBase64(trimmed) {
			return source{body: io.NopCloser(base64Reader(trimmed)), name: fallback, size: -1}, nil
		}
		return source{}, errors.New("not an http(s) URL or a data: URI")
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pu.String(), nil)
	if err != nil {
		return source{}, err
	}
	if d.ua != "" {
		req.Header.Set("User-Agent", d.ua)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			err = cerr
		}
		return source{}, unwrapURLError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // let the connection be reused
		_ = resp.Body.Close()
		err := fmt.Errorf("HTTP %s", resp.Status)
		switch resp.StatusCode {
		case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
			err = fmt.Errorf("HTTP %s: %w", resp.Status, ErrLinkExpired)
		}
		return source{}, &DownloadError{URL: u, StatusCode: resp.StatusCode, Err: err}
	}
	if d.maxBytes >= 0 && resp.ContentLength > d.maxBytes {
		_ = resp.Body.Close() // not drained: it is too large to be worth it
		return source{}, &TooLargeError{Limit: d.maxBytes, Size: resp.ContentLength}
	}

	name := sanitizeName(path.Base(pu.Path))
	if name == "" {
		name = fallback
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return source{
		body: resp.Body, name: name, mediaType: mediaType, size: resp.ContentLength,
		media: wantsMedia(pu.Path, mediaType, d.expectMedia),
	}, nil
}

// openDataURI decodes "data:[<mediatype>][;base64],<data>" as a stream.
func openDataURI(u string) (io.ReadCloser, string, error) {
	comma := strings.IndexByte(u, ',')
	if comma < 0 {
		return nil, "", errors.New("malformed data: URI (no comma)")
	}
	meta, payload := u[len("data:"):comma], u[comma+1:]
	isBase64 := false
	if strings.HasSuffix(strings.ToLower(meta), ";base64") {
		isBase64 = true
		meta = meta[:len(meta)-len(";base64")]
	}
	mediaType, _, _ := mime.ParseMediaType(meta)
	if isBase64 {
		return io.NopCloser(base64Reader(payload)), mediaType, nil
	}
	text, err := url.PathUnescape(payload)
	if err != nil {
		return nil, "", fmt.Errorf("malformed data: URI: %w", err)
	}
	return io.NopCloser(strings.NewReader(text)), mediaType, nil
}

// base64Reader decodes standard base64 with or without padding (newlines
// are ignored by the decoder).
func base64Reader(payload string) io.Reader {
	payload = strings.TrimRight(strings.TrimSpace(payload), "=")
	return base64.NewDecoder(base64.RawStdEncoding, strings.NewReader(payload))
}

// looksLikeBase64 reports whether s could be a bare base64 payload (the API
// documents base64 outputs without saying whether they carry a data:
// prefix).
func looksLikeBase64(s string) bool {
	if len(s) < 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '+', c == '/', c == '=', c == '\n', c == '\r':
		default:
			return false
		}
	}
	return true
}

// extByType maps the media types ModelsLab serves to file extensions. It
// is consulted before the system's mime table so names are the same on
// every machine.
var extByType = map[string]string{
	"image/png":                ".png",
	"image/jpeg":               ".jpg",
	"image/jpg":                ".jpg",
	"image/webp":               ".webp",
	"image/gif":                ".gif",
	"image/bmp":                ".bmp",
	"image/tiff":               ".tiff",
	"image/svg+xml":            ".svg",
	"image/avif":               ".avif",
	"video/mp4":                ".mp4",
	"video/webm":               ".webm",
	"video/quicktime":          ".mov",
	"video/x-msvideo":          ".avi",
	"audio/mpeg":               ".mp3",
	"audio/mp3":                ".mp3",
	"audio/wav":                ".wav",
	"audio/x-wav":              ".wav",
	"audio/wave":               ".wav",
	"audio/ogg":                ".ogg",
	"audio/flac":               ".flac",
	"audio/aac":                ".aac",
	"audio/mp4":                ".m4a",
	"model/gltf-binary":        ".glb",
	"model/gltf+json":          ".gltf",
	"model/obj":                ".obj",
	"model/stl":                ".stl",
	"application/zip":          ".zip",
	"application/json":         ".json",
	"application/pdf":          ".pdf",
	"text/plain":               ".txt",
	"text/html":                ".html",
	"application/octet-stream": "",
}

// extForType returns the extension for a media type (parameters allowed),
// or "" when unknown.
func extForType(mediaType string) string {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return ""
	}
	if ext, ok := extByType[mt]; ok {
		return ext
	}
	if exts, err := mime.ExtensionsByType(mt); err == nil && len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// maxNameBytes caps file names well below common file system limits,
// leaving room for a collision suffix.
const maxNameBytes = 200

// windowsReserved are device names Windows refuses as file names.
var windowsReserved = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true,
	"COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true,
	"LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

// sanitizeName turns the last element of a URL path into a safe file
// name, or "" when nothing usable is left (the caller then picks a
// fallback name).
//
// Invisible format characters (Unicode category Cf: the bidi controls
// U+202A–U+202E, U+2066–U+2069, U+200E, U+200F and U+061C, which can make
// "x\u202Egnp.exe" display as "xexe.png", zero-width characters, byte
// order marks, soft hyphens, tags) are removed. Control characters (C0,
// DEL, C1), line and paragraph separators, invalid UTF-8, path separators
// and characters Windows forbids become "_". Runs of dots collapse to one,
// leading and trailing dots and spaces go, long names are cut to
// maxNameBytes keeping a short extension, and Windows device names get a
// "_" prefix.
func sanitizeName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.Is(unicode.Cf, r):
			// dropped: it shows nothing but can reorder or hide what does
		case r == utf8.RuneError, unicode.IsControl(r), r == '\u2028', r == '\u2029',
			r == '/', r == '\\', strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	n := tidyDots(b.String())
	if strings.Trim(n, "_") == "" {
		return ""
	}
	// Windows reserves a device name before any extension ("CON.tar.gz").
	if dev, _, _ := strings.Cut(n, "."); windowsReserved[strings.ToUpper(dev)] {
		n = "_" + n
	}
	if len(n) > maxNameBytes {
		ext := filepath.Ext(n)
		if len(ext) > 16 {
			ext = ""
		}
		cut := maxNameBytes - len(ext)
		for cut > 0 && !utf8.RuneStart(n[cut]) {
			cut--
		}
		n = tidyDots(n[:cut] + ext) // the cut may leave a trailing dot or ".."
		if strings.Trim(n, "_") == "" {
			return ""
		}
	}
	return n
}

// tidyDots collapses runs of dots and trims dots and spaces from both ends.
func tidyDots(n string) string {
	for strings.Contains(n, "..") {
		n = strings.ReplaceAll(n, "..", ".")
	}
	return strings.Trim(n, ". ")
}

// createTemp creates a hidden temporary file in dir with mode 0644 (less
// the umask), unlike os.CreateTemp's 0600, so the renamed file has normal
// permissions.
func createTemp(dir string) (*os.File, string, error) {
	for range 100 {
		p := filepath.Join(dir, partPrefix+ids.Hex(partHexLen/2)+partSuffix)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, "", err
		}
	}
	return nil, "", errors.New("cannot create a temporary file")
}

// finalize moves the complete temporary file tmp to dir/name, or to
// dir/<stem>-N<ext> for the first N that does not exist yet. It never
// replaces an existing file: a hard link fails when the target exists;
// where hard links are unsupported, the name is first claimed with
// O_EXCL and then replaced by a rename.
func finalize(tmp, dir, name string) (string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for k := 0; k < 10000; k++ {
		cand := name
		if k > 0 {
			cand = stem + "-" + strconv.Itoa(k) + ext
		}
		full := filepath.Join(dir, cand)
		err := os.Link(tmp, full)
		if err == nil {
			_ = os.Remove(tmp)
			return full, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		// No hard links here: claim the name, then rename over the claim.
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_ = f.Close()
		if err := os.Rename(tmp, full); err != nil {
			_ = os.Remove(full)
			return "", err
		}
		return full, nil
	}
	return "", fmt.Errorf("no free file name for %q in %s", name, dir)
}

// countingWriter reports bytes written to the progress bar.
type countingWriter struct {
	w     io.Writer
	prog  *byteProgress
	known bool
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.prog.add(int64(n), c.known)
	return n, err
}
