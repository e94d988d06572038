package webhook

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestRejectionFloodIsBoundedAndCoalesced: 20,000 rejected requests with
// 60 KB paths (and 503s, and a few 413s) keep at most maxRejectDetail
// rejections, each path clipped; a window reports those one by one and
// the rest in one summary; the 503s are never reported singly.
func TestRejectionFloodIsBoundedAndCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		e := New(Options{Observer: obs})
		_, stop := runFake(t, e, "http://127.0.0.1:1/t")
		path := "/\x1b[2J" + strings.Repeat("a", 60_000)
		e.Reject(Rejection{Method: "GET", Path: path, Status: 404, Reason: "not found"})
		synctest.Wait() // reported at once, then a window starts
		const flood = 20_000
		for i := range flood {
			switch {
			case i%200 == 0:
				e.Reject(Rejection{Method: "POST", Path: "/t", Status: http.StatusServiceUnavailable, Reason: "busy: try again"})
			case i%4000 == 3999:
				e.Reject(Rejection{Method: "POST", Path: path, Status: 413, Reason: "body larger than 10485760 bytes"})
			default:
				e.Reject(Rejection{Method: strings.Repeat("X", 5000), Path: path, Status: 404, Reason: "not found"})
			}
		}
		e.rej.mu.Lock()
		kept := len(e.rej.detail)
		e.rej.mu.Unlock()
		if kept != maxRejectDetail {
			t.Fatalf("%d rejections kept, want %d", kept, maxRejectDetail)
		}
		time.Sleep(reportEvery)
		synctest.Wait()
		if len(obs.rejected) != 1+maxRejectDetail || len(obs.many) != 1 {
			t.Fatalf("%d reported one by one, %d summaries", len(obs.rejected), len(obs.many))
		}
		for _, r := range obs.rejected {
			if len(r.Path) > MaxShownPath+20 || !strings.HasSuffix(r.Path, "… (60005 bytes)") || len(r.Method) > maxShownMethod+20 || r.Status == 503 {
				t.Fatalf("reported %.80q (%d bytes), method %.30q", r.Path, len(r.Path), r.Method)
			}
		}
		sum := obs.many[0]
		if sum.Busy != flood/200 || sum.ByStatus[413] != 5 || sum.Others()+sum.Busy != flood-maxRejectDetail || sum.Statuses() != "404: 19885, 413: 5" {
			t.Fatalf("summary %+v (%s)", sum, sum.Statuses())
		}
		stop()
		if s := obs.stats[0]; s.Rejected != flood+1 || s.Busy != flood/200 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestRejectionsLeftAreReportedAtTheStop: what is still waiting for its
// window when the run stops is reported before Stopped.
func TestRejectionsLeftAreReportedAtTheStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &observer{}
		e := New(Options{Observer: obs})
		_, stop := runFake(t, e, "http://127.0.0.1:1/t")
		for _, st := range []int{404, 400, 503} {
			e.Reject(Rejection{Path: "/x", Status: st})
			synctest.Wait()
		}
		stop()
		if len(obs.rejected) != 2 || obs.rejected[1].Status != 400 || len(obs.many) != 1 || obs.many[0].Busy != 1 {
			t.Fatalf("rejected %+v, summaries %+v", obs.rejected, obs.many)
		}
	})
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"/short", 200, "/short"},
		{"/" + strings.Repeat("a", 9), 4, "/aaa… (10 bytes)"},
		{"/ééé", 4, "/é… (7 bytes)"}, // not inside a character
	} {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
