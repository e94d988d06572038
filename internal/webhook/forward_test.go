package webhook

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func delivery(i int) Delivery {
	return Delivery{Method: "POST", Path: "/t", Body: []byte(fmt.Sprintf(`{"id":%d}`, i)), RemoteAddr: "127.0.0.1:4242",
		Header: http.Header{"Content-Type": {"application/json"}, "User-Agent": {"ModelsLab"}}}
}

// TestForwarderSlowAppDelaysNothing: enqueue returns at once while the app
// takes 2 s; the answers come back with their latency, the bodies byte for
// byte with the relay headers.
func TestForwarderSlowAppDelaysNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var seen []string
		slow := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen = append(seen, string(b)+" "+r.Header.Get("X-Forwarded-For")+" "+r.Header.Get("X-Forwarded-Proto")+" "+r.Header.Get("User-Agent"))
			mu.Unlock()
			time.Sleep(2 * time.Second)
			return answer(r, http.StatusAccepted), nil
		})
		var res observer
		fw := newForwarder(forwardConfig{URL: "http://app.invalid/hooks", Proto: "https", Timeout: 10 * time.Second, Report: res.Forwarded, Transport: slow})
		start := time.Now()
		for i := range 3 {
			if !fw.enqueue(delivery(i), Summary{Kind: KindGeneration, ID: fmt.Sprint(i)}) {
				t.Fatalf("delivery %d not queued", i)
			}
		}
		if took := time.Since(start); took != 0 {
			t.Fatalf("enqueue waited %s for the app", took)
		}
		if n := fw.close(DefaultDrainBound); n != 0 {
			t.Fatalf("%d abandoned", n)
		}
		if took := time.Since(start); took != 2*time.Second {
			t.Fatalf("3 deliveries on %d workers took %s", forwardWorkers, took)
		}
		got := res.forwarded
		if len(got) != 3 {
			t.Fatalf("%d results", len(got))
		}
		for _, r := range got {
			if r.Err != nil || r.Status != http.StatusAccepted || !r.OK() || r.Elapsed != 2*time.Second || r.URL != "http://app.invalid/hooks" {
				t.Fatalf("result %+v", r)
			}
		}
		slices.Sort(seen)
		want := []string{`{"id":0} 127.0.0.1 https ModelsLab`, `{"id":1} 127.0.0.1 https ModelsLab`, `{"id":2} 127.0.0.1 https ModelsLab`}
		if !slices.Equal(seen, want) {
			t.Fatalf("the app saw %q", seen)
		}
	})
}

// TestForwarderDrainIsBounded: an app that never answers keeps close no
// longer than its bound; what was pending is counted and reported.
func TestForwarderDrainIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var res observer
		fw := newForwarder(forwardConfig{URL: "http://app.invalid/", Timeout: time.Hour, Report: res.Forwarded, Transport: hang})
		for i := range 6 {
			fw.enqueue(delivery(i), Summary{Kind: KindGeneration})
		}
		start := time.Now()
		if n := fw.close(300 * time.Millisecond); n != 6 {
			t.Fatalf("%d abandoned, want 6", n)
		}
		if took := time.Since(start); took != 300*time.Millisecond {
			t.Fatalf("close took %s", took)
		}
		got := res.forwarded
		if len(got) != 6 {
			t.Fatalf("%d results", len(got))
		}
		for _, r := range got {
			if r.Err == nil || r.Err.Error() != "stopped while waiting for the answer" {
				t.Fatalf("result %+v", r)
			}
		}
		if fw.enqueue(delivery(7), Summary{}) {
			t.Fatal("queued after close")
		}
		if n := fw.close(time.Second); n != 0 {
			t.Fatalf("second close: %d", n)
		}
	})
}

// TestForwarderPerDeliveryTimeout: each relay has its own deadline.
func TestForwarderPerDeliveryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var res observer
		fw := newForwarder(forwardConfig{URL: "http://app.invalid/", Timeout: 5 * time.Second, Report: res.Forwarded, Transport: hang})
		fw.enqueue(delivery(1), Summary{})
		if n := fw.close(time.Minute); n != 0 {
			t.Fatalf("%d abandoned", n)
		}
		if got := res.forwarded; len(got) != 1 || got[0].Err == nil || got[0].Err.Error() != "no answer in time" || got[0].Elapsed != 5*time.Second {
			t.Fatalf("results %+v", got)
		}
	})
}

// TestForwarderQueueIsBounded: past its workers and its queue (in count,
// or in bytes), enqueue waits for room instead of dropping the delivery;
// close refuses a waiting enqueue and counts it as abandoned.
func TestForwarderQueueIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		stuck := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			select {
			case <-release:
				return answer(r, http.StatusOK), nil
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		})
		var res observer
		fw := newForwarder(forwardConfig{URL: "http://app.invalid/", Timeout: time.Hour, Report: res.Forwarded, Transport: stuck})
		for i := range forwardWorkers + forwardQueue {
			fw.enqueue(delivery(i), Summary{})
			synctest.Wait() // the first ones are taken by the workers
		}
		waited := make(chan bool)
		go func() { waited <- fw.enqueue(delivery(-1), Summary{}) }()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("queued past the bound")
		default:
		}
		close(release)
		if !<-waited {
			t.Fatal("not queued once there was room")
		}
		if n := fw.close(time.Minute); n != 0 {
			t.Fatalf("%d abandoned", n)
		}
		if got := res.forwarded; len(got) != forwardWorkers+forwardQueue+1 {
			t.Fatalf("%d results", len(got))
		}
	})

	synctest.Test(t, func(t *testing.T) {
		var res observer
		fw := newForwarder(forwardConfig{URL: "http://app.invalid/", Timeout: time.Hour, Report: res.Forwarded, Transport: hang})
		big := delivery(0)
		big.Body = []byte(`{"id":"` + strings.Repeat("x", forwardQueueBytes/3) + `"}`)
		for range forwardWorkers + 3 { // the workers hold 4, the queue takes 2 of the 3 (bytes)
			go fw.enqueue(big, Summary{})
			synctest.Wait()
		}
		if n := fw.jobs.len(); n != 2 {
			t.Fatalf("%d queued, want 2 (the byte bound)", n)
		}
		if n := fw.close(time.Second); n != forwardWorkers+3 {
			t.Fatalf("%d abandoned, want %d: the 4 sent, the 2 queued and the one waiting", n, forwardWorkers+3)
		}
	})
}

// TestForwarderAppDown: an app that is down is reported for each delivery,
// and the forwarder goes on.
func TestForwarderAppDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	down := srv.URL + "/hooks"
	srv.Close()
	var res observer
	fw := newForwarder(forwardConfig{URL: down, Proto: "http", Timeout: 5 * time.Second, Report: res.Forwarded})
	for i := range 2 {
		fw.enqueue(delivery(i), Summary{Kind: KindGeneration, ID: fmt.Sprint(i)})
	}
	if n := fw.close(5 * time.Second); n != 0 {
		t.Fatalf("%d abandoned", n)
	}
	got := res.forwarded
	if len(got) != 2 {
		t.Fatalf("%d results", len(got))
	}
	for _, r := range got {
		if r.Err == nil || r.Status != 0 || strings.Contains(r.Err.Error(), "Post ") || !strings.Contains(r.Err.Error(), "dial ") {
			t.Fatalf("result %+v", r)
		}
	}
}
