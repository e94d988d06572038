package tunnel

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitReady(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	if err := WaitReady(context.Background(), srv.Client(), srv.URL+"/secret-token/ready", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("probes = %d, want 3", got)
	}
}

func TestWaitReadyAcceptsNon404Errors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed) // our handler answered: routable
	}))
	defer srv.Close()
	if err := WaitReady(context.Background(), nil, srv.URL+"/x", time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReadyBudget(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	start := time.Now()
	err := WaitReady(context.Background(), srv.Client(), srv.URL+"/secret-token/ready", 400*time.Millisecond)
	if err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if !strings.Contains(err.Error(), "not reachable within 400ms") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("error leaks the path: %v", err)
	}
}

func TestWaitReadyConnectionRefusedAndCancel(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/secret-token/ready"
	srv.Close() // connection refused from now on
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err := WaitReady(ctx, nil, url, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("error leaks the path: %v", err)
	}
}
