package cmd

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
)

// isInputField reports whether a body field takes a file by URL (init_image,
// mask_image, face_image, init_audio, target_audio, init_video, images, ...).
// A local path in such a field is uploaded first (base64_to_url) and replaced
// by its URL. The rule is by name so that a new catalogue row needs nothing
// here.
func isInputField(name string) bool {
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

// localInput is one local file named in the body.
type localInput struct {
	field string
	index int // position in an array field, -1 for a plain field
	path  string
}

// isRemote reports whether v is already something the API can read.
func isRemote(v string) bool {
	l := strings.ToLower(v)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "data:")
}

// localInputs finds local paths in the input fields and checks each one is
// a readable regular file within the upload limit, so that a bad path fails
// (exit 2) before anything is submitted or uploaded.
func localInputs(body map[string]any) ([]localInput, error) {
	var found []localInput
	check := func(field string, index int, v string) error {
		if v == "" || isRemote(v) {
			return nil
		}
		st, err := os.Stat(v)
		if err != nil {
			return flagErrorf("%s: cannot read %s: %v", field, v, unwrapPathError(err))
		}
		if !st.Mode().IsRegular() {
			return flagErrorf("%s: %s is not a regular file", field, v)
		}
		if st.Size() > api.MaxUploadBytes {
			return flagErrorf("%s: %s is %d bytes; uploads are limited to %d MB (host it somewhere and pass its URL)", field, v, st.Size(), api.MaxUploadBytes>>20)
		}
		found = append(found, localInput{field: field, index: index, path: v})
		return nil
	}
	fields := make([]string, 0, len(body))
	for field := range body {
		if isInputField(field) {
			fields = append(fields, field)
		}
	}
	sort.Strings(fields) // deterministic upload order
	for _, field := range fields {
		switch v := body[field].(type) {
		case string:
			if err := check(field, -1, v); err != nil {
				return nil, err
			}
		case []string:
			for i, s := range v {
				if err := check(field, i, s); err != nil {
					return nil, err
				}
			}
		case []any:
			for i, e := range v {
				if s, ok := e.(string); ok {
					if err := check(field, i, s); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	return found, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// uploadInputs uploads each local file once and puts its URL in the body.
func uploadInputs(ctx context.Context, client *api.Client, body map[string]any, inputs []localInput, logf func(string, ...any)) error {
	urls := map[string]string{}
	for _, in := range inputs {
		u, ok := urls[in.path]
		if !ok {
			data, err := os.ReadFile(in.path)
			if err != nil {
				return flagErrorf("%s: cannot read %s: %v", in.field, in.path, unwrapPathError(err))
			}
			mt := mime.TypeByExtension(strings.ToLower(filepath.Ext(in.path)))
			if mt == "" {
				mt = http.DetectContentType(data)
			}
			if i := strings.IndexByte(mt, ';'); i >= 0 {
				mt = mt[:i]
			}
			u, err = client.Upload(ctx, data, mt)
			if err != nil {
				return fmt.Errorf("upload %s: %w", in.path, err)
			}
			urls[in.path] = u
			logf("uploaded %s (%d bytes) for %s", in.path, len(data), in.field)
		}
		switch v := body[in.field].(type) {
		case string:
			body[in.field] = u
		case []string:
			v[in.index] = u
		case []any:
			v[in.index] = u
		}
	}
	return nil
}
