package webhook

import (
	"strings"
	"testing"
	"testing/synctest"
)

func body(n int) Delivery { return Delivery{Body: []byte(strings.Repeat("x", n))} }

func bodySize(d Delivery) int { return len(d.Body) }

// TestFIFOWaitsWhenFull: past its bound on items, or on bytes, push waits
// (it never drops) until a pop makes room; an item larger than the byte
// bound still passes when the queue is empty.
func TestFIFOWaitsWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFIFO(3, 100, bodySize)
		pushed := make(chan int, 10)
		go func() {
			for i := range 5 {
				q.push(Delivery{Body: []byte{byte('0' + i)}})
				pushed <- i
			}
		}()
		synctest.Wait()
		if len(pushed) != 3 {
			t.Fatalf("%d pushed past a bound of 3 items", len(pushed))
		}
		for i := range 5 {
			d, ok := q.pop()
			if !ok || string(d.Body) != string(rune('0'+i)) {
				t.Fatalf("pop %d: %q %v", i, d.Body, ok)
			}
			synctest.Wait()
		}
		if len(pushed) != 5 {
			t.Fatalf("%d pushed after the pops", len(pushed))
		}
	})

	synctest.Test(t, func(t *testing.T) {
		q := newFIFO(100, 10, bodySize)
		q.push(body(6))
		done := make(chan struct{})
		go func() { q.push(body(6)); close(done) }() // 12 bytes > 10: waits
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("pushed past the byte bound")
		default:
		}
		if d, _ := q.pop(); len(d.Body) != 6 {
			t.Fatalf("popped %d bytes", len(d.Body))
		}
		<-done
		q.pop()
		q.push(body(50)) // larger than the bound, but the queue is empty
		if d, _ := q.pop(); len(d.Body) != 50 {
			t.Fatalf("popped %d bytes", len(d.Body))
		}
	})
}

// TestFIFOCloseAndDiscard: after close, pop drains what is queued, then
// reports false, and push refuses; a pusher waiting for room is refused
// and counted; discard drops what is queued and counts it.
func TestFIFOCloseAndDiscard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFIFO(1, 100, bodySize)
		q.push(body(1))
		refused := make(chan bool)
		go func() { refused <- !q.push(body(2)) }()
		synctest.Wait()
		if n := q.close(); n != 1 || !<-refused {
			t.Fatalf("close refused %d waiting pushers", n)
		}
		if q.push(body(3)) {
			t.Fatal("pushed after close")
		}
		if d, ok := q.pop(); !ok || len(d.Body) != 1 {
			t.Fatalf("after close: %q %v", d.Body, ok)
		}
		if _, ok := q.pop(); ok {
			t.Fatal("pop after the queue was drained")
		}
		if q.close() != 0 {
			t.Fatal("second close counted again")
		}
	})

	synctest.Test(t, func(t *testing.T) {
		q := newFIFO(2, 100, bodySize)
		q.push(body(1))
		q.push(body(1))
		go q.push(body(1))
		synctest.Wait()
		if n := q.discard(); n != 3 || q.len() != 0 {
			t.Fatalf("discarded %d, %d left", n, q.len())
		}
		if _, ok := q.pop(); ok {
			t.Fatal("pop after discard")
		}
	})
}

// TestFIFOPopWaits: pop waits for a push.
func TestFIFOPopWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newFIFO(10, 100, bodySize)
		got := make(chan string, 1)
		go func() { d, _ := q.pop(); got <- string(d.Body) }()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("pop returned with nothing queued")
		}
		q.push(Delivery{Body: []byte("a")})
		if s := <-got; s != "a" {
			t.Fatalf("got %q", s)
		}
	})
}
