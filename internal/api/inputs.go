package api

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IsInputField reports whether a body field takes a file by URL
// (init_image, mask_image, face_image, init_audio, target_audio,
// init_video, images, ...). A local path in such a field is uploaded first
// (base64_to_url) and replaced by its URL. The rule is by name so that a new
// catalogue row needs nothing here.
func IsInputField(name string) bool {
	switch name {
	case "image", "images", "audio", "video":
		return true
	}
	for _, suffix := range []string{"_image", "_images", "_audio", "_video"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// LocalInput is one local file named in a request body.
type LocalInput struct {
	Field string // the body field
	Index int    // position in an array field, -1 for a plain field
	Path  string // the local path
}

// InputError is a local input file that cannot be sent: missing,
// unreadable, not a regular file or over MaxUploadBytes. It is the caller's
// mistake, found before anything is submitted.
type InputError struct {
	Field string // the body field naming the file
	Path  string
	Err   error // the reason, e.g. fs.ErrNotExist
}

func (e *InputError) Error() string {
	var tooLarge *sizeError
	switch {
	case errors.As(e.Err, &tooLarge):
		return fmt.Sprintf("%s: %s is %d bytes; uploads are limited to %d MB (host it somewhere and pass its URL)", e.Field, e.Path, tooLarge.size, MaxUploadBytes>>20)
	case errors.Is(e.Err, errNotRegular):
		return fmt.Sprintf("%s: %s is not a regular file", e.Field, e.Path)
	}
	return fmt.Sprintf("%s: cannot read %s: %v", e.Field, e.Path, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

var errNotRegular = errors.New("not a regular file")

type sizeError struct{ size int64 }

func (e *sizeError) Error() string { return fmt.Sprintf("%d bytes", e.size) }
func (e *sizeError) Unwrap() error { return ErrTooLarge }

// isRemote reports whether v is already something the API can read.
func isRemote(v string) bool {
	l := strings.ToLower(v)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "data:")
}

// LocalInputs finds the local paths in body's input fields (see
// [IsInputField]) and checks that each one is a readable regular file within
// MaxUploadBytes, so that a bad path fails before anything is submitted or
// uploaded. Fields are visited in name order; a failure is an *InputError.
func LocalInputs(body map[string]any) ([]LocalInput, error) {
	var found []LocalInput
	check := func(field string, index int, v string) error {
		if v == "" || isRemote(v) {
			return nil
		}
		st, err := os.Stat(v)
		switch {
		case err != nil:
			return &InputError{Field: field, Path: v, Err: pathReason(err)}
		case !st.Mode().IsRegular():
			return &InputError{Field: field, Path: v, Err: errNotRegular}
		case st.Size() > MaxUploadBytes:
			return &InputError{Field: field, Path: v, Err: &sizeError{size: st.Size()}}
		}
		found = append(found, LocalInput{Field: field, Index: index, Path: v})
		return nil
	}
	fields := make([]string, 0, len(body))
	for field := range body {
		if IsInputField(field) {
			fields = append(fields, field)
		}
	}
	sort.Strings(fields) // deterministic upload order
	for _, field := range fields {
		if err := eachInput(body[field], func(i int, s string) error { return check(field, i, s) }); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// eachInput calls fn for the strings of a field in order: once (index -1)
// for a plain string, once per string element of an array; it stops at the
// first error.
func eachInput(v any, fn func(index int, s string) error) error {
	switch v := v.(type) {
	case string:
		return fn(-1, v)
	case []string:
		for i, s := range v {
			if err := fn(i, s); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if s, ok := e.(string); ok {
				if err := fn(i, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pathReason drops the *os.PathError wrapper (its text repeats the path).
func pathReason(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Uploader stores a file and returns its URL; *Client is one.
type Uploader interface {
	Upload(ctx context.Context, data []byte, mime string) (string, error)
}

// UploadInputs uploads each local file once (a path named twice is sent
// once) and puts its URL in body in place of the path. uploaded, if set, is
// called after each upload with the file's size. A file that can no longer
// be read is an *InputError; a failed upload wraps the client's error.
func UploadInputs(ctx context.Context, u Uploader, body map[string]any, inputs []LocalInput, uploaded func(in LocalInput, size int)) error {
	urls := map[string]string{}
	for _, in := range inputs {
		url, ok := urls[in.Path]
		if !ok {
			data, err := os.ReadFile(in.Path)
			if err != nil {
				return &InputError{Field: in.Field, Path: in.Path, Err: pathReason(err)}
			}
			if url, err = u.Upload(ctx, data, mediaType(in.Path, data)); err != nil {
				return &uploadError{path: in.Path, err: err}
			}
			urls[in.Path] = url
			if uploaded != nil {
				uploaded(in, len(data))
			}
		}
		switch v := body[in.Field].(type) {
		case string:
			body[in.Field] = url
		case []string:
			v[in.Index] = url
		case []any:
			v[in.Index] = url
		}
	}
	return nil
}

// mediaType names a file's type by its extension, else by sniffing data,
// without parameters ("text/plain", not "text/plain; charset=utf-8").
func mediaType(path string, data []byte) string {
	mt := mime.TypeByExtension(strings.ToLower(filepath.Ext(path)))
	if mt == "" {
		mt = http.DetectContentType(data)
	}
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return mt
}

// uploadError is a failed upload of path: the client's error, which
// begins "upload", names the file once ("upload a.png: HTTP 401: ...").
type uploadError struct {
	path string
	err  error
}

func (e *uploadError) Error() string {
	return "upload " + e.path + ": " + strings.TrimPrefix(strings.TrimPrefix(e.err.Error(), "upload"), ": ")
}
func (e *uploadError) Unwrap() error { return e.err }
