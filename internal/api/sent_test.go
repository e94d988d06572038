package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestNotSubmitted: only answers that prove no job was made, and requests
// that never left, count as not submitted.
func TestNotSubmitted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	ep, _ := Lookup("text2img")
	cases := []struct {
		name string
		code int
		body string
		want bool
	}{
		{"422", 422, `{"status":"error","message":"bad"}`, true},
		{"429", 429, `{"status":"error","message":"Rate limit exceeded.","retry_after":1}`, true},
		{"503", 503, `{"status":"error"}`, true},
		{"200 error", 200, `{"status":"error","message":"Invalid Api Key"}`, true},
		{"200 failed", 200, `{"status":"failed","id":5,"message":"NSFW"}`, false},
		{"500", 500, `{"status":"error"}`, false},
		{"502 page", 502, `<html></html>`, false},
		{"200 page", 200, `<html></html>`, false},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(c.code)
			fmt.Fprint(w, c.body)
		}))
		_, err := New(srv.URL, "k", WithRetry(1, 0)).Submit(context.Background(), ep, map[string]any{"prompt": "x"})
		srv.Close()
		if err == nil || NotSubmitted(err) != c.want {
			t.Errorf("%s: NotSubmitted(%v) = %v, want %v", c.name, err, NotSubmitted(err), c.want)
		}
	}
	_, err = New(closed, "k", WithRetry(1, 0)).Submit(context.Background(), ep, map[string]any{"prompt": "x"})
	if !NotSubmitted(err) {
		t.Errorf("dial error: NotSubmitted(%v) = false", err)
	}
	wf, _ := Lookup("workflow_run")
	if _, err := New(closed, "k").Submit(context.Background(), wf, nil); !NotSubmitted(err) {
		t.Errorf("unset path parameter: NotSubmitted(%v) = false", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(closed, "k").Submit(ctx, ep, nil); NotSubmitted(err) {
		t.Errorf("cancelled: NotSubmitted(%v) = true, want false (not an answer)", err)
	}
	if NotSubmitted(errors.New("x")) || NotSubmitted(&Error{Kind: KindNetwork, Err: errors.New("reset")}) {
		t.Error("NotSubmitted of an error that proves nothing")
	}
}
