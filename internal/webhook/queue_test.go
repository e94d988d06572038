package webhook

import (
	"strings"
	"testing"
	"testing/synctest"
)

func body(n int) Delivery { return Delivery{Body: []byte(strings.Repeat("x", n))} }

// TestQueueOverflowIsCounted: with nobody popping, push never waits; past
// the bounds on events and on bytes it drops and counts.
func TestQueueOverflowIsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(3, 100)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 5 {
				q.push(event{d: Delivery{Body: []byte{byte('0' + i)}}})
			}
		}()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("push blocked with nobody popping")
		}
		if q.droppedCount() != 2 {
			t.Fatalf("dropped %d, want 2", q.droppedCount())
		}
		for i := range 3 {
			ev, ok := q.pop()
			if !ok || string(ev.d.Body) != string(rune('0'+i)) {
				t.Fatalf("pop %d: %q %v", i, ev.d.Body, ok)
			}
		}
	})

	q := newQueue(100, 10)
	q.push(event{d: body(6)})
	q.push(event{d: body(6)}) // 12 bytes > 10: dropped
	q.push(event{d: body(4)}) // exactly 10: kept
	q.push(event{rej: &Rejection{Status: 404}})
	if q.droppedCount() != 1 {
		t.Fatalf("dropped %d, want 1", q.droppedCount())
	}
	for _, want := range []int{6, 4} {
		if ev, _ := q.pop(); len(ev.d.Body) != want {
			t.Fatalf("popped %d bytes, want %d", len(ev.d.Body), want)
		}
	}
	q.push(event{d: body(10)}) // the bytes popped are free again
	if ev, _ := q.pop(); ev.rej == nil || ev.rej.Status != 404 {
		t.Fatalf("popped %+v, want the rejection", ev)
	}
	if ev, _ := q.pop(); len(ev.d.Body) != 10 || q.droppedCount() != 1 {
		t.Fatalf("popped %d bytes, dropped %d", len(ev.d.Body), q.droppedCount())
	}
}

// TestQueuePopWaitsAndCloseDrains: pop waits for a push; after close it
// returns what is queued, then false; pushes after close are ignored.
func TestQueuePopWaitsAndCloseDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueue(maxQueuedEvents, maxQueuedBytes)
		got := make(chan string, 10)
		go func() {
			for {
				ev, ok := q.pop()
				if !ok {
					close(got)
					return
				}
				got <- string(ev.d.Body)
			}
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("pop returned with nothing queued")
		}
		q.push(event{d: Delivery{Body: []byte("a")}})
		synctest.Wait()
		if s := <-got; s != "a" {
			t.Fatalf("got %q", s)
		}
		q.push(event{d: Delivery{Body: []byte("b")}})
		q.close()
		q.push(event{d: Delivery{Body: []byte("late")}})
		var rest []string
		for s := range got {
			rest = append(rest, s)
		}
		if strings.Join(rest, ",") != "b" || q.droppedCount() != 0 {
			t.Fatalf("after close: %q, dropped %d", rest, q.droppedCount())
		}
	})
}
