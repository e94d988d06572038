package sandbox

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxUploadBytes is the largest file base64_to_url accepts (decoded).
	MaxUploadBytes = 5 << 20
	firstUploadID  = 132527681
)

// uploadServices are the services with their own base64_to_url besides
// /api/v6/base64_to_url.
var uploadServices = map[string]bool{"image_editing": true, "video": true, "voice": true}

// uploadExts maps the MIME type of a data URI to the stored extension.
var uploadExts = map[string]string{
	"image/png":         "png",
	"image/jpeg":        "jpg",
	"image/jpg":         "jpg",
	"image/webp":        "webp",
	"image/gif":         "gif",
	"image/bmp":         "bmp",
	"image/tiff":        "tiff",
	"image/svg+xml":     "svg",
	"audio/wav":         "wav",
	"audio/wave":        "wav",
	"audio/x-wav":       "wav",
	"audio/mpeg":        "mp3",
	"audio/mp3":         "mp3",
	"audio/flac":        "flac",
	"audio/ogg":         "ogg",
	"audio/mp4":         "m4a",
	"video/mp4":         "mp4",
	"video/webm":        "webm",
	"video/quicktime":   "mov",
	"model/gltf-binary": "glb",
	"application/pdf":   "pdf",
}

// upload is a file stored by base64_to_url.
type upload struct {
	name        string // <id>.<ext>
	contentType string
	data        []byte
	at          time.Time
}

// splitDataURI returns the MIME type (lower case, "" for bare base64) and
// the base64 text of s.
func splitDataURI(s string) (mime, payload string, ok bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(strings.ToLower(s), "data:") {
		return "", s, true
	}
	head, data, found := strings.Cut(s[len("data:"):], ",")
	if !found {
		return "", "", false
	}
	params := strings.Split(head, ";")
	if !strings.EqualFold(params[len(params)-1], "base64") {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(params[0])), data, true
}

// cleanBase64 drops whitespace (line-wrapped base64 is common).
func cleanBase64(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// decodeBase64 accepts standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = cleanBase64(s)
	if strings.ContainsAny(s, "-_") {
		s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// base64Size estimates the decoded size of a (data URI or bare) base64
// string without decoding it, for Requests.
func base64Size(s string) int {
	_, payload, ok := splitDataURI(s)
	if !ok {
		return len(s)
	}
	payload = strings.TrimRight(cleanBase64(payload), "=")
	return len(payload) * 3 / 4
}

// upload answers POST /api/v6/base64_to_url (and the image_editing, video
// and voice variants): the decoded file is kept in memory and served under
// /uploads/.
func (s *Server) upload(w http.ResponseWriter, c *call) string {
	if s.authError(w, c) {
		return ""
	}
	raw, isStr := c.body["base64_string"].(string)
	if !isStr || strings.TrimSpace(raw) == "" {
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "The base64 string field is required."}})
		return "no base64_string"
	}
	mime, payload, ok := splitDataURI(raw)
	if ok && len(cleanBase64(payload))/4*3 > MaxUploadBytes+3 {
		return uploadTooBig(w)
	}
	var data []byte
	var err error
	if ok {
		data, err = decodeBase64(payload)
	}
	if !ok || err != nil || len(data) == 0 {
		writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "Invalid base64 string."}})
		return "bad base64"
	}
	if len(data) > MaxUploadBytes {
		return uploadTooBig(w)
	}
	ext := uploadExts[mime]
	ctype := mime
	if ext == "" {
		ext = "bin"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}

	s.mu.Lock()
	id := s.nextUpload
	s.nextUpload++
	u := &upload{name: strconv.FormatInt(id, 10) + "." + ext, contentType: ctype, data: data, at: time.Now()}
	s.uploads[id] = u
	s.stats.Uploads++
	s.mu.Unlock()

	var idValue any = id
	if s.opts.StringIDs {
		idValue = strconv.FormatInt(id, 10)
	}
	writePHP(w, http.StatusOK, object{
		{"status", "success"},
		{"id", idValue},
		{"output", []string{c.base + "/uploads/" + u.name}},
	})
	return fmt.Sprintf("upload %s, %d bytes", u.name, len(data))
}

func uploadTooBig(w http.ResponseWriter) string {
	writePHP(w, http.StatusBadRequest, object{{"status", "error"}, {"message", "File size exceeds the 5MB limit."}})
	return "too big"
}

// serveUpload serves GET /uploads/<id>.<ext>.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/uploads/")
	idStr, _, _ := strings.Cut(name, ".")
	id, err := strconv.ParseInt(idStr, 10, 64)
	s.mu.Lock()
	u := s.uploads[id]
	s.mu.Unlock()
	if err != nil || u == nil || u.name != name {
		notFound(w)
		return
	}
	w.Header().Set("Content-Type", u.contentType)
	http.ServeContent(w, r, name, u.at, strings.NewReader(string(u.data)))
}
