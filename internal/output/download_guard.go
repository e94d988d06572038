package output

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// DefaultMaxBytes is the per-file size cap [Download] applies when
// DownloadOptions.MaxBytes is 0: 2 GB (decimal, like every size
// [FormatBytes] shows), far above any image, clip or model ModelsLab
// serves, yet low enough that an endless body cannot fill the disk.
const DefaultMaxBytes int64 = 2_000_000_000

// TooLargeError is the cause [Download] gives (inside a [*DownloadError])
// when an output is over the size cap: its declared Content-Length is
// over it, or its body streamed past it. Nothing is saved for that
// output. Test for it with errors.As.
type TooLargeError struct {
	// Limit is the cap in bytes that was applied.
	Limit int64
	// Size is the declared Content-Length, or -1 when the body had no
	// declared length (or lied about it) and was stopped at the cap.
	Size int64
}

// Error implements error. It names the cap and how to lift it, without
// naming a flag: the command that calls [Download] adds that hint.
func (e *TooLargeError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("the file is %s, over the %s download size limit (raise the download size limit to fetch it)",
			FormatBytes(e.Size), FormatBytes(e.Limit))
	}
	return fmt.Sprintf("the file is larger than the %s download size limit (raise the download size limit to fetch it)",
		FormatBytes(e.Limit))
}

// capReader passes at most limit bytes of r through and fails with a
// [*TooLargeError] as soon as r has more.
type capReader struct {
	r     io.Reader
	left  int64 // bytes still allowed
	limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte more than allowed reveals an overrun
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n = int(c.left)
		c.left = 0
		return n, &TooLargeError{Limit: c.limit, Size: -1}
	}
	c.left -= int64(n)
	return n, err
}

// ErrorPageError is the cause [Download] gives (inside a [*DownloadError])
// when an HTTP answer that should be a media file is an HTML page or an
// XML document instead, by its Content-Type or by its first bytes: a CDN
// or storage error page served with status 200. Nothing is saved for that
// output. Test for it with errors.As.
type ErrorPageError struct {
	// ContentType is the page's media type: the declared one when it is
	// HTML or XML, else the one its content sniffed as.
	ContentType string
}

// Error implements error: "answered an HTML page (text/html), not a file
// (an error page?)".
func (e *ErrorPageError) Error() string {
	kind := "an XML document"
	if strings.Contains(e.ContentType, "html") {
		kind = "an HTML page"
	}
	return "answered " + kind + " (" + e.ContentType + "), not a file (an error page?)"
}

// mediaExts are URL extensions of media files (image, video, audio, 3D
// model, archive): an HTML or XML answer for such a link is an error page.
var mediaExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".gif": true, ".bmp": true,
	".tif": true, ".tiff": true, ".avif": true, ".heic": true, ".heif": true, ".ico": true,
	".mp4": true, ".webm": true, ".mov": true, ".m4v": true, ".mkv": true, ".avi": true,
	".mp3": true, ".wav": true, ".flac": true, ".ogg": true, ".oga": true, ".opus": true,
	".aac": true, ".m4a": true, ".glb": true, ".gltf": true, ".obj": true, ".fbx": true,
	".ply": true, ".stl": true, ".usdz": true, ".zip": true, ".pdf": true,
}

// textExts are URL extensions of text outputs whose content may well be
// markup (SVG is XML): their answers are never rejected as error pages.
var textExts = map[string]bool{
	".txt": true, ".json": true, ".html": true, ".htm": true, ".xhtml": true, ".xml": true,
	".svg": true, ".csv": true, ".md": true, ".srt": true, ".vtt": true,
}

// pageTypes are the declared media types of HTML and XML documents.
var pageTypes = map[string]bool{
	"text/html": true, "application/xhtml+xml": true, "text/xml": true, "application/xml": true,
}

// wantsMedia reports whether the answer for the URL path urlPath, declared
// as mediaType, must be a media file: its extension says so, or the caller
// expects media and the extension is not a text one, or the server itself
// declared a media type.
func wantsMedia(urlPath, mediaType string, expectMedia bool) bool {
	ext := strings.ToLower(path.Ext(urlPath))
	switch {
	case textExts[ext]:
		return false
	case mediaExts[ext], expectMedia:
		return true
	}
	family, _, _ := strings.Cut(mediaType, "/")
	switch family {
	case "image", "video", "audio", "model":
		return mediaType != "image/svg+xml"
	}
	return mediaType == "application/zip"
}

// utf8BOM may precede a page's markup; http.DetectContentType then calls
// it text/plain.
var utf8BOM = []byte("\xef\xbb\xbf")

// sniffPage returns "text/html" or "text/xml" when head, the first bytes
// of a body, is an HTML page or an XML document, else "".
func sniffPage(head []byte) string {
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if sniffed == "text/html" || sniffed == "text/xml" {
		return sniffed
	}
	lead := bytes.ToLower(bytes.TrimLeft(bytes.TrimPrefix(head, utf8BOM), " \t\r\n\f"))
	switch {
	case bytes.HasPrefix(lead, []byte("<!doctype html")), bytes.HasPrefix(lead, []byte("<html")):
		return "text/html"
	case bytes.HasPrefix(lead, []byte("<?xml")):
		return "text/xml"
	}
	return ""
}
