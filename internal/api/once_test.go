package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMessagesSayItOnce: the operation, the file and the URL are named
// once in an error's text.
func TestMessagesSayItOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"status":"error","message":"Invalid Api Key"}`))
	}))
	defer srv.Close()
	c := New(srv.URL, "sk-test-key-1234")
	ep, _ := Lookup("text2img")

	_, err := c.Submit(context.Background(), ep, map[string]any{"prompt": "x"})
	if got, want := errText(err), "submit text2img: HTTP 401: Invalid Api Key"; got != want {
		t.Errorf("submit: %q, want %q", got, want)
	}
	_, err = c.Fetch(context.Background(), ep, "42", "")
	if got, want := errText(err), "fetch 42: HTTP 401: Invalid Api Key"; got != want {
		t.Errorf("fetch: %q, want %q", got, want)
	}

	path := writeTemp(t, "in.png", "img")
	body := map[string]any{"init_image": path}
	inputs, _ := LocalInputs(body)
	err = UploadInputs(context.Background(), c, body, inputs, nil)
	if got, want := errText(err), "upload "+path+": HTTP 401: Invalid Api Key"; got != want {
		t.Errorf("upload: %q, want %q", got, want)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindAuth {
		t.Errorf("upload error %v: not an auth *Error", err)
	}

	srv.Close() // nothing listens: a network error names the call once
	_, err = c.Submit(context.Background(), ep, map[string]any{"prompt": "x"})
	if got := errText(err); strings.Count(got, "text2img") != 1 || strings.Contains(got, "Post ") {
		t.Errorf("unreachable submit: %q names the call more than once", got)
	}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
