package api

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// Every retry is told before its sleep, with why and for how long, and
// never with the key.
func TestRetryNotify(t *testing.T) {
	f := newFakeAPI(t,
		reply{code: 429, body: `{"status":"error","message":"Rate limit exceeded","retry_after":2}`},
		reply{code: 503, body: `<html>busy</html>`, header: map[string]string{"Content-Type": "text/html"}},
		reply{code: 200, body: `{"status":"processing","id":7,"eta":5}`},
	)
	var events []RetryEvent
	c := newTestClient(f.srv.URL, &sleepRecorder{}, WithRetryNotify(func(e RetryEvent) { events = append(events, e) }))
	if _, err := c.Submit(context.Background(), mustLookup(t, "text2img"), map[string]any{"prompt": "x"}); err != nil {
		t.Fatal(err)
	}
	want := []RetryEvent{
		{Op: "submit text2img", Attempt: 1, Wait: 2 * time.Second, Reason: "rate limited"},
		{Op: "submit text2img", Attempt: 2, Wait: 2 * time.Second, Reason: "HTTP 503"},
	}
	if len(events) != len(want) {
		t.Fatalf("events %+v", events)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, events[i], want[i])
		}
	}
	if got := events[0].String(); got != "rate limited, retrying in 2s" {
		t.Errorf("String() = %q", got)
	}
	for _, e := range events {
		if strings.Contains(e.Op, testKey) {
			t.Errorf("the key in %+v", e)
		}
	}
}

func TestRetryNotifyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var events []RetryEvent
	c := newTestClient("http://"+addr, &sleepRecorder{}, WithRetry(3, 0), WithRetryNotify(func(e RetryEvent) { events = append(events, e) }))
	_, err = c.Fetch(context.Background(), mustLookup(t, "text2img"), "42", "")
	if !IsKind(err, KindNetwork) {
		t.Fatalf("err = %v", err)
	}
	if len(events) != 2 || events[0].Reason != "unreachable" || events[0].Wait != time.Second || events[1].Wait != 2*time.Second || events[1].Op != "fetch 42" {
		t.Errorf("events %+v", events)
	}
	// A single attempt (a wait's own fetch) is never retried: no event.
	events = nil
	if _, err := c.FetchOnce(context.Background(), mustLookup(t, "text2img"), "42", ""); err == nil || len(events) != 0 {
		t.Errorf("FetchOnce: %v, events %+v", err, events)
	}
	if got := RetryReason(err); got != "unreachable" {
		t.Errorf("RetryReason = %q", got)
	}
}

func TestRetryReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&Error{Kind: KindRateLimited, HTTPStatus: 429}, "rate limited"},
		{&Error{Kind: KindServer, HTTPStatus: 502}, "HTTP 502"},
		{&Error{Kind: KindNetwork}, "unreachable"},
		{errors.New("other"), "error"},
		{&Error{Kind: KindDecode}, "error"},
	} {
		if got := RetryReason(c.err); got != c.want {
			t.Errorf("RetryReason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
