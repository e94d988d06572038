package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
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
	dropped uint64

	mu              sync.Mutex
	shutdown, close int
}

func newFakeReceiver() *fakeReceiver { return &fakeReceiver{stopped: make(chan struct{})} }

func (f *fakeReceiver) Stopped() <-chan struct{} { return f.stopped }
func (f *fakeReceiver) Err() error               { return f.err }
func (f *fakeReceiver) Stats() (accepted, rejected, dropped uint64) {
	return 0, 0, f.dropped
}

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
		reg, ch := fakeRegistration("https://abcd.ngrok.example/t")
		ctx, cancel := context.WithCancel(context.Background())
		wait := start(ctx, e, newFakeReceiver(), reg)
		for i := range 6 {
			ch <- delivery(i)
		}
		synctest.Wait()
		began := time.Now()
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took != 300*time.Millisecond {
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

// TestEngineCountsWhatItCouldNotTake: with the observer stuck and the
// queue full, deliveries are dropped and counted with the receiver's own.
func TestEngineCountsWhatItCouldNotTake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{gate: make(chan struct{})}
		e := New(Options{Observer: obs})
		e.q = newQueue(2, maxQueuedBytes)
		rc := newFakeReceiver()
		rc.dropped = 3
		reg, ch := fakeRegistration("http://127.0.0.1:1/t")
		ctx, cancel := context.WithCancel(context.Background())
		wait := start(ctx, e, rc, reg)
		ch <- delivery(0)
		synctest.Wait() // the observer holds delivery 0
		for i := 1; i < 5; i++ {
			ch <- delivery(i)
		}
		synctest.Wait() // 1 and 2 queued, 3 and 4 dropped
		cancel()
		close(obs.gate)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if got := obs.bodies(); strings.Join(got, "") != `{"id":0}{"id":1}{"id":2}` {
			t.Fatalf("delivered %q", got)
		}
		if s := obs.stats[0]; s.Dropped != 5 || s.Deliveries != 3 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// failWriter is a disk that refuses every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestEngineProblemsAreReportedAndListeningGoesOn: a record file that
// fails stops recording only; a body that cannot be processed is reported;
// a full forward queue skips the forward; Count stops the run and what
// comes after it is not shown.
func TestEngineProblemsAreReportedAndListeningGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec, err := OpenRecorder(filepath.Join(t.TempDir(), "rec.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Close()
		rec.WrapWriter(func(io.Writer) io.Writer { return failWriter{} })
		release := make(chan struct{})
		obs := &observer{}
		total := forwardWorkers + forwardQueue + 2 // one forward too many
		e := New(Options{Observer: obs, Recorder: rec, Count: total, ForwardTo: "http://app.invalid/", ForwardTimeout: time.Hour})
		e.o.forwardTransport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-release
			return answer(r, http.StatusOK), nil
		})
		reg, ch := fakeRegistration("http://127.0.0.1:1/t")
		wait := start(context.Background(), e, newFakeReceiver(), reg)
		ch <- Delivery{Body: []byte("not json"), Header: http.Header{}}
		for i := range total { // one past Count
			ch <- delivery(i)
			if i < forwardWorkers {
				synctest.Wait() // each worker holds one forward
			}
		}
		synctest.Wait()
		close(release)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if len(obs.problems) != 3 || !strings.HasPrefix(obs.problems[0], "process not json: compact body: ") ||
			!strings.HasPrefix(obs.problems[1], "record: record to ") || !strings.HasSuffix(obs.problems[1], "no space left on device") ||
			obs.problems[2] != fmt.Sprintf("skipped generation %d", total-2) {
			t.Fatalf("problems %q", obs.problems)
		}
		s := obs.stats[0]
		if !s.CountReached || s.Deliveries != total || len(obs.delivered) != total-1 || len(obs.forwarded) != total-2 {
			t.Fatalf("stats %+v, delivered %d, forwarded %d", s, len(obs.delivered), len(obs.forwarded))
		}
	})
}
