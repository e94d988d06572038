package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
)

// fakeReceiver stands in for *receiver.Receiver without a network, so the
// engine runs inside a synctest bubble.
type fakeReceiver struct {
	stopped chan struct{}
	err     error

	mu              sync.Mutex
	shutdown, close int
}

func newFakeReceiver() *fakeReceiver { return &fakeReceiver{stopped: make(chan struct{})} }

func (f *fakeReceiver) Stopped() <-chan struct{} { return f.stopped }
func (f *fakeReceiver) Err() error               { return f.err }

func (f *fakeReceiver) Shutdown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdown++
}

func (f *fakeReceiver) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.close++
}

// fakeRegistration is a token whose deliveries the test sends itself.
func fakeRegistration(url string) (*receiver.Registration, chan<- Delivery) {
	ch := make(chan Delivery, Buffer)
	var once sync.Once
	return &receiver.Registration{Token: "t", URL: url, Deliveries: ch, Unregister: func() { once.Do(func() { close(ch) }) }}, ch
}

// runFake runs e over a fake receiver and a registration at url; stop
// ends the run like Ctrl-C, fails t if Run failed, and says how long the
// stop took.
func runFake(t *testing.T, e *Engine, url string) (ch chan<- Delivery, stop func() time.Duration) {
	reg, ch := fakeRegistration(url)
	ctx, cancel := context.WithCancel(context.Background())
	wait := start(ctx, e, newFakeReceiver(), reg)
	return ch, func() time.Duration {
		began := time.Now()
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		return time.Since(began)
	}
}

// TestEngineReceiverStoppedOnItsOwn: a receiver that stops serving ends
// the run with an error; it is still shut down and closed.
func TestEngineReceiverStoppedOnItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		e := New(Options{Observer: obs})
		rc := newFakeReceiver()
		rc.err = errors.New("accept: too many open files")
		reg, ch := fakeRegistration("http://127.0.0.1:1/t")
		wait := start(context.Background(), e, rc, reg)
		ch <- delivery(1)
		synctest.Wait()
		close(rc.stopped)
		err := wait()
		if err == nil || err.Error() != "the webhook receiver stopped: accept: too many open files" {
			t.Fatalf("err = %v", err)
		}
		if rc.shutdown != 1 || rc.close != 1 || len(obs.delivered) != 1 || len(obs.stats) != 1 {
			t.Fatalf("shutdown %d, close %d, delivered %d, stats %+v", rc.shutdown, rc.close, len(obs.delivered), obs.stats)
		}
	})
}

// TestEngineDrainIsBounded: at the stop, forwards to an app that never
// answers may run for DrainBound and no longer; they are counted.
func TestEngineDrainIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		e := New(Options{Observer: obs, ForwardTo: "http://app.invalid/hooks", ForwardTimeout: time.Hour, DrainBound: 300 * time.Millisecond})
		e.o.forwardTransport = hang
		ch, stop := runFake(t, e, "https://abcd.ngrok.example/t")
		for i := range 6 {
			ch <- delivery(i)
		}
		synctest.Wait()
		if took := stop(); took != 300*time.Millisecond {
			t.Fatalf("stopping took %s", took)
		}
		if s := obs.stats[0]; s.Abandoned != 6 || s.DrainBound != 300*time.Millisecond || s.Deliveries != 6 {
			t.Fatalf("stats %+v", s)
		}
		if len(obs.forwarded) != 6 || obs.forwarded[0].Err == nil {
			t.Fatalf("forwarded %+v", obs.forwarded)
		}
	})
}

// offer sends d as the listener does: at once or not at all (then the
// listener answers 503).
func offer(ch chan<- Delivery, d Delivery) (accepted bool) {
	select {
	case ch <- d:
		return true
	default:
		return false
	}
}

// TestEngineBackPressureNeverDropsAfter200: with the observer stuck, the
// engine's queue fills, then the pump stops draining the token's channel,
// so the listener must refuse (503) instead of answering 200; every
// delivery the channel took is still shown once the observer moves.
func TestEngineBackPressureNeverDropsAfter200(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{gate: make(chan struct{})}
		e := New(Options{Observer: obs})
		e.q = newFIFO(3, maxQueuedBytes, queuedSize)
		ch, stop := runFake(t, e, "http://127.0.0.1:1/t")
		var accepted []string
		refused := 0
		for i := range Buffer + 20 {
			d := delivery(i)
			if offer(ch, d) {
				accepted = append(accepted, string(d.Body))
			} else {
				refused++
			}
			synctest.Wait()
		}
		// One held by the observer, 3 queued, one in the pump's hand, Buffer in the channel.
		if want := 1 + 3 + 1 + Buffer; len(accepted) != want || refused != Buffer+20-want {
			t.Fatalf("accepted %d, refused %d; want %d accepted", len(accepted), refused, want)
		}
		close(obs.gate)
		synctest.Wait()
		stop()
		if got := obs.bodies(); !slices.Equal(got, accepted) {
			t.Fatalf("delivered %d of the %d accepted", len(got), len(accepted))
		}
		if s := obs.stats[0]; s.Deliveries != len(accepted) || s.Unprocessed != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestEngineStopIsBoundedWhenTheObserverIsStuck: an observer that never
// returns (a terminal nobody reads) does not hold up the stop: what is
// still queued after stopIdle without progress is counted as unprocessed,
// and Run returns.
func TestEngineStopIsBoundedWhenTheObserverIsStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{gate: make(chan struct{})}
		defer close(obs.gate)
		e := New(Options{Observer: obs})
		ch, stop := runFake(t, e, "http://127.0.0.1:1/t")
		for i := range 5 {
			ch <- delivery(i)
		}
		synctest.Wait() // delivery 0 is stuck in the observer, 4 queued
		if took := stop(); took != stopIdle {
			t.Fatalf("the stop took %s, want %s", took, stopIdle)
		}
		if s := obs.stats[0]; s.Deliveries != 1 || s.Unprocessed != 4 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestEngineStopBoundCapsASlowDrain: an observer that moves, but slowly,
// gets StopBound and no more.
func TestEngineStopBoundCapsASlowDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &slowObserver{delay: 100 * time.Millisecond}
		e := New(Options{Observer: obs, StopBound: time.Second})
		ch, stop := runFake(t, e, "http://127.0.0.1:1/t")
		for i := range 30 {
			ch <- delivery(i)
		}
		synctest.Wait()
		if took := stop(); took != time.Second {
			t.Fatalf("the stop took %s, want 1s", took)
		}
		s := obs.stats[0]
		if s.Deliveries+s.Unprocessed != 30 || s.Unprocessed == 0 || s.Deliveries < 10 {
			t.Fatalf("stats %+v", s)
		}
		time.Sleep(obs.delay) // the delivery being shown at the stop, then the processor ends
	})
}

// slowObserver takes delay to show each delivery.
type slowObserver struct {
	observer
	delay time.Duration
}

func (o *slowObserver) Delivered(p *Processed) {
	time.Sleep(o.delay)
	o.observer.Delivered(p)
}

// failWriter is a disk that refuses every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestEngineProblemsAreReportedAndListeningGoesOn: a record file that
// fails stops recording only; a body that cannot be processed is
// reported; Count stops the run, and what comes after it is counted, not
// shown.
func TestEngineProblemsAreReportedAndListeningGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, err := OpenRecorder(filepath.Join(t.TempDir(), "rec.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Close()
		rec.WrapWriter(func(io.Writer) io.Writer { return failWriter{} })
		obs := &observer{gate: make(chan struct{})}
		e := New(Options{Observer: obs, Recorder: rec, Count: 3})
		reg, ch := fakeRegistration("http://127.0.0.1:1/t")
		wait := start(context.Background(), e, newFakeReceiver(), reg)
		ch <- Delivery{Body: []byte("not json"), Header: http.Header{}}
		for i := range 5 { // three past Count
			ch <- delivery(i)
		}
		synctest.Wait()
		close(obs.gate)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if len(obs.problems) != 2 || !strings.HasPrefix(obs.problems[0], "process not json: compact body: ") ||
			!strings.HasPrefix(obs.problems[1], "record: record to ") || !strings.HasSuffix(obs.problems[1], "no space left on device") {
			t.Fatalf("problems %q", obs.problems)
		}
		s := obs.stats[0]
		// "not json" counts as one of the 3 (it was processed, and failed).
		if !s.CountReached || s.Deliveries != 3 || s.PastCount != 3 || len(obs.delivered) != 2 {
			t.Fatalf("stats %+v, delivered %d", s, len(obs.delivered))
		}
	})
}

// TestEngineForwardBackPressure: an app that does not answer fills the
// forward queue; then the engine waits for room instead of skipping a
// forward, and once the app answers every delivery is forwarded.
func TestEngineForwardBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		obs := &observer{}
		e := New(Options{Observer: obs, ForwardTo: "http://app.invalid/", ForwardTimeout: time.Hour})
		e.o.forwardTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-release
			return answer(r, http.StatusOK), nil
		})
		ch, stop := runFake(t, e, "http://127.0.0.1:1/t")
		total := forwardWorkers + forwardQueue + 5
		for i := range total {
			ch <- delivery(i)
			synctest.Wait()
		}
		if n := len(obs.delivered); n != forwardWorkers+forwardQueue+1 {
			t.Fatalf("%d shown while the forward queue was full, want %d (then the engine waits)", n, forwardWorkers+forwardQueue+1)
		}
		close(release)
		synctest.Wait()
		stop()
		s := obs.stats[0]
		if s.Deliveries != total || len(obs.forwarded) != total || s.Abandoned != 0 || len(obs.problems) != 0 {
			t.Fatalf("stats %+v, forwarded %d, problems %q", s, len(obs.forwarded), obs.problems)
		}
	})
}
