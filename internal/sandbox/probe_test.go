package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// hit sends one request to s in-process (so that, inside a synctest
// bubble, the server's clock is the fake one) with an optional Range.
func hit(s *Server, method, path, rng string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// submitJob submits a text2img job in-process and returns its id, the
// path of its first future link and the decoded answer.
func submitJob(t *testing.T, s *Server) (id, path string, ans map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v6/images/text2img", strings.NewReader(`{"key":"k","prompt":"a lighthouse"}`))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	dec := json.NewDecoder(rec.Body)
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil {
		t.Fatalf("submit answer: %v", err)
	}
	id = idText(ans["id"])
	if links, _ := ans["future_links"].([]any); len(links) > 0 {
		u, err := url.Parse(links[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		path = u.Path
	} else if out, _ := ans["output"].([]any); len(out) > 0 {
		u, err := url.Parse(out[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		path = u.Path
	}
	if id == "" || path == "" {
		t.Fatalf("submit answer without id or links: %v", ans)
	}
	return id, path, ans
}

// TestHeadStatus: a CDN that refuses HEAD answers every HEAD of an output
// file with HeadStatus (405 with Allow: GET) and no body, before and after
// the file exists, while a one-byte ranged GET answers 404 before and 206
// with one byte after, and a plain GET downloads the file. Every HEAD and
// ranged GET counts as a probe; only the 206s as ready ones; only the
// plain GET as a download.
func TestHeadStatus(t *testing.T) {
	for _, tc := range []struct {
		name       string
		headStatus int
		wantBefore int // HEAD before the job is done
		wantAfter  int // HEAD once it is done
		wantAllow  string
		readyHeads int // HEADs answered 200
	}{
		{"HEAD served", 0, 404, 200, "", 2},
		{"HEAD forbidden", http.StatusForbidden, 403, 403, "", 0},
		{"HEAD not allowed", http.StatusMethodNotAllowed, 405, 405, "GET", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := New(Options{Delay: time.Second, HeadStatus: tc.headStatus})
				defer s.Close()
				_, path, _ := submitJob(t, s)
				proxy := "/proxy" + path

				checkHead := func(when, p string, want int) {
					t.Helper()
					rec := hit(s, http.MethodHead, p, "")
					// (A served HEAD's body, recorded here, never
					// leaves a real server.)
					if rec.Code != want || tc.headStatus != 0 && rec.Body.Len() != 0 {
						t.Errorf("HEAD %s %s: %d with %d bytes, want %d", p, when, rec.Code, rec.Body.Len(), want)
					}
					if got := rec.Header().Get("Allow"); want != 200 && want != 404 && got != tc.wantAllow {
						t.Errorf("HEAD %s %s: Allow %q, want %q", p, when, got, tc.wantAllow)
					}
				}
				checkHead("before", path, tc.wantBefore)
				checkHead("before", proxy, tc.wantBefore)
				if rec := hit(s, http.MethodGet, path, "bytes=0-0"); rec.Code != http.StatusNotFound {
					t.Errorf("ranged GET before: %d, want 404", rec.Code)
				}

				time.Sleep(time.Second)
				checkHead("after", path, tc.wantAfter)
				checkHead("after", proxy, tc.wantAfter)
				for _, p := range []string{path, proxy} {
					rec := hit(s, http.MethodGet, p, "bytes=0-0")
					if rec.Code != http.StatusPartialContent || rec.Body.Len() != 1 || rec.Body.Bytes()[0] != 0x89 {
						t.Errorf("ranged GET %s after: %d with %q, want 206 with the PNG's first byte", p, rec.Code, rec.Body.Bytes())
					}
				}
				if rec := hit(s, http.MethodGet, path, ""); rec.Code != http.StatusOK || !isPNG(rec.Body.Bytes()) {
					t.Errorf("GET after: %d, want 200 with the PNG", rec.Code)
				}
				st := s.Stats()
				if st.Probes != 7 || st.ProbesReady != 2+tc.readyHeads || st.Downloads != 1 {
					t.Errorf("stats: %d probes, %d ready, %d downloads; want 7, %d, 1", st.Probes, st.ProbesReady, st.Downloads, 2+tc.readyHeads)
				}
			})
		})
	}
}

// TestHeadStatusWorkflowOutputs: workflow outputs sit behind the same CDN.
func TestHeadStatusWorkflowOutputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{Delay: time.Second, HeadStatus: http.StatusMethodNotAllowed})
		defer s.Close()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/workflows/"+WorkflowTextToImageUpscale+"/run", strings.NewReader(`{"prompt":"x"}`))
		req.Header.Set("key", "k")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var ans map[string]any
		dec := json.NewDecoder(rec.Body)
		dec.UseNumber()
		if err := dec.Decode(&ans); err != nil || rec.Code != http.StatusAccepted {
			t.Fatalf("run: %d %v", rec.Code, err)
		}
		out := "/workflow-outputs/" + idText(ans["execution_id"]) + "-0.png"
		if rec := hit(s, http.MethodGet, out, "bytes=0-0"); rec.Code != http.StatusNotFound {
			t.Errorf("ranged GET before: %d, want 404", rec.Code)
		}
		time.Sleep(2 * time.Second)
		if rec := hit(s, http.MethodHead, out, ""); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
			t.Errorf("HEAD: %d, Allow %q; want 405, GET", rec.Code, rec.Header().Get("Allow"))
		}
		if rec := hit(s, http.MethodGet, "/proxy"+out, "bytes=0-0"); rec.Code != http.StatusPartialContent || rec.Body.Len() != 1 {
			t.Errorf("ranged GET after: %d with %d bytes, want 206 with 1", rec.Code, rec.Body.Len())
		}
		if st := s.Stats(); st.Probes != 3 || st.ProbesReady != 1 || st.Downloads != 0 {
			t.Errorf("stats: %d probes, %d ready, %d downloads; want 3, 1, 0", st.Probes, st.ProbesReady, st.Downloads)
		}
	})
}

// TestProbeRateLimit: at most ProbeRateLimit probes are answered within
// any rolling second; the others get 429 with Retry-After: 1. Downloads
// (plain GETs, and open-ended ranges resuming one) are never limited.
func TestProbeRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, extra = 5, 3
		s := New(Options{Delay: -1, ProbeRateLimit: limit})
		defer s.Close()
		_, path, _ := submitJob(t, s)

		probe := func(i int) *httptest.ResponseRecorder {
			if i%2 == 0 {
				return hit(s, http.MethodHead, path, "")
			}
			return hit(s, http.MethodGet, path, "bytes=0-0")
		}
		download := func(when string) {
			t.Helper()
			if rec := hit(s, http.MethodGet, path, ""); rec.Code != http.StatusOK {
				t.Errorf("download %s: %d, want 200", when, rec.Code)
			}
			if rec := hit(s, http.MethodGet, path, "bytes=10-"); rec.Code != http.StatusPartialContent {
				t.Errorf("resumed download %s: %d, want 206", when, rec.Code)
			}
		}
		burst := func(when string, n int) (ok, limited int) {
			t.Helper()
			for i := range n {
				rec := probe(i)
				switch rec.Code {
				case http.StatusOK, http.StatusPartialContent:
					ok++
				case http.StatusTooManyRequests:
					limited++
					if ra := rec.Header().Get("Retry-After"); ra != "1" {
						t.Errorf("%s: 429 with Retry-After %q, want 1", when, ra)
					}
					if i%2 == 0 && rec.Body.Len() != 0 {
						t.Errorf("%s: 429 to a HEAD with a body", when)
					}
				default:
					t.Errorf("%s: probe %d answered %d", when, i, rec.Code)
				}
				if i == n-1 {
					download(when) // the limit is reached in most bursts
				}
			}
			return ok, limited
		}

		if ok, limited := burst("t=0", limit+extra); ok != limit || limited != extra {
			t.Errorf("burst of %d at t=0: %d answered, %d limited; want %d, %d", limit+extra, ok, limited, limit, extra)
		}
		time.Sleep(999 * time.Millisecond)
		if ok, limited := burst("t=0.999s", 1); ok != 0 || limited != 1 {
			t.Errorf("t=0.999s: %d answered, %d limited; want 0, 1", ok, limited)
		}
		time.Sleep(time.Millisecond) // the window (0, 1s] holds none
		if ok, limited := burst("t=1s", 2); ok != 2 || limited != 0 {
			t.Errorf("t=1s: %d answered, %d limited; want 2, 0", ok, limited)
		}
		time.Sleep(500 * time.Millisecond) // (0.5s, 1.5s] holds 2
		if ok, limited := burst("t=1.5s", limit); ok != limit-2 || limited != 2 {
			t.Errorf("t=1.5s: %d answered, %d limited; want %d, 2", ok, limited, limit-2)
		}
		time.Sleep(500 * time.Millisecond) // the 2 of t=1s are gone
		if ok, limited := burst("t=2s", 3); ok != 2 || limited != 1 {
			t.Errorf("t=2s: %d answered, %d limited; want 2, 1", ok, limited)
		}

		st := s.Stats()
		wantLimited := extra + 1 + 2 + 1
		if st.ProbesRateLimited != wantLimited || st.Probes != limit+extra+1+2+limit+3 || st.Downloads != 2*5 || st.ProbeErrors != 0 {
			t.Errorf("stats %+v: want %d rate limited, %d probes, 10 downloads", st, wantLimited, limit+extra+1+2+limit+3)
		}
		if st.ProbesReady != st.Probes-st.ProbesRateLimited {
			t.Errorf("stats: %d ready of %d probes, %d limited", st.ProbesReady, st.Probes, st.ProbesRateLimited)
		}
	})
}

// TestMaxProbesPerSecond: the most probes within any window (t-1s, t],
// exactly, for known arrival patterns; refused probes count too.
func TestMaxProbesPerSecond(t *testing.T) {
	type wave struct {
		at time.Duration
		n  int
	}
	for _, tc := range []struct {
		name  string
		waves []wave
		want  int
	}{
		{"none", nil, 0},
		{"one burst", []wave{{0, 7}}, 7},
		{"overlapping", []wave{{0, 5}, {500 * time.Millisecond, 3}, {1200 * time.Millisecond, 4}}, 8},
		{"just inside", []wave{{0, 5}, {999 * time.Millisecond, 4}}, 9},
		{"just outside", []wave{{0, 5}, {time.Second, 4}}, 5},
		{"later peak", []wave{{0, 2}, {700 * time.Millisecond, 2}, {1500 * time.Millisecond, 3}, {1600 * time.Millisecond, 1}}, 6},
		{"steady", []wave{{0, 2}, {400 * time.Millisecond, 2}, {800 * time.Millisecond, 2}, {1200 * time.Millisecond, 2}, {1600 * time.Millisecond, 2}}, 6},
		{"after a pause", []wave{{0, 3}, {10 * time.Second, 4}, {10*time.Second + 300*time.Millisecond, 4}}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// A limit below the peaks: refused probes still arrived.
				s := New(Options{Delay: time.Hour, ProbeRateLimit: 3})
				defer s.Close()
				_, path, _ := submitJob(t, s)
				start := time.Now()
				total := 0
				for _, w := range tc.waves {
					time.Sleep(w.at - time.Since(start))
					for i := range w.n {
						m := http.MethodHead
						if i%2 == 1 {
							m = http.MethodGet
						}
						hit(s, m, path, "bytes=0-0")
					}
					total += w.n
				}
				hit(s, http.MethodGet, path, "") // a download is no probe
				st := s.Stats()
				if st.MaxProbesPerSecond != tc.want || st.Probes != total {
					t.Errorf("max %d per second of %d probes, want %d of %d", st.MaxProbesPerSecond, st.Probes, tc.want, total)
				}
			})
		})
	}
}

// TestProbeWindowMemory: the window keeps only the last second, and its
// storage stays near the most events of one second.
func TestProbeWindowMemory(t *testing.T) {
	var q window
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100_000 { // 100 per second for 1000 s
		now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		q.expire(now)
		q.push(now)
		if q.len() > 100 {
			t.Fatalf("at %v: %d events in the window, want at most 100", now.Sub(t0), q.len())
		}
	}
	if q.len() != 100 || len(q.t) > 200 {
		t.Fatalf("window holds %d events in a slice of %d", q.len(), len(q.t))
	}
	q.expire(t0.Add(2000 * time.Second))
	if q.len() != 0 || len(q.t) != 0 {
		t.Fatalf("after a pause: %d events in a slice of %d", q.len(), len(q.t))
	}
}

// TestProbeErrorRate: ProbeErrorRate answers a share of the probes 503,
// the same ones for the same seed, other ones for another seed, without
// changing which fetches FetchErrorRate fails.
func TestProbeErrorRate(t *testing.T) {
	const n = 200
	run := func(seed int64, probes bool) (probeCodes, fetchCodes []int, st Stats) {
		synctest.Test(t, func(t *testing.T) {
			// Jobs that never end: probes answer 404 (no file to render).
			s := New(Options{Delay: time.Hour, ProbeErrorRate: 0.3, FetchErrorRate: 0.3, Seed: seed})
			defer s.Close()
			id, path, _ := submitJob(t, s)
			for i := range n {
				if probes {
					m := http.MethodHead
					if i%2 == 1 {
						m = http.MethodGet
					}
					rec := hit(s, m, path, "bytes=0-0")
					probeCodes = append(probeCodes, rec.Code)
					if rec.Code == http.StatusServiceUnavailable && m == http.MethodGet && !strings.Contains(rec.Body.String(), "503") {
						t.Errorf("503 body %q", rec.Body)
					}
				}
				if i%10 == 0 {
					req := httptest.NewRequest(http.MethodPost, "/api/v6/images/fetch/"+id, strings.NewReader(`{"key":"k"}`))
					rec := httptest.NewRecorder()
					s.ServeHTTP(rec, req)
					fetchCodes = append(fetchCodes, rec.Code)
				}
			}
			st = s.Stats()
		})
		return probeCodes, fetchCodes, st
	}
	a, fa, sa := run(42, true)
	b, fb, _ := run(42, true)
	c, _, _ := run(43, true)
	_, fNoProbes, _ := run(42, false)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different probe failures")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 42 and 43 fail the same probes")
	}
	if !reflect.DeepEqual(fa, fb) || !reflect.DeepEqual(fa, fNoProbes) {
		t.Errorf("fetch failures changed by probing: %v, %v, without probes %v", fa, fb, fNoProbes)
	}
	failed := 0
	for _, code := range a {
		switch code {
		case http.StatusServiceUnavailable:
			failed++
		case http.StatusNotFound:
		default:
			t.Errorf("probe answered %d", code)
		}
	}
	if failed < n*15/100 || failed > n*45/100 || sa.ProbeErrors != failed || sa.ProbesReady != 0 || sa.Probes != n {
		t.Errorf("%d of %d probes failed; stats %+v", failed, n, sa)
	}
}

// TestJobTimes: JobTimes reports when the job was submitted, when it is
// done and the eta its submit answer carried.
func TestJobTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{Delay: time.Second, DelayMax: 9 * time.Second, ETAError: 0.3, Seed: 5})
		defer s.Close()
		start := time.Now()
		for range 5 {
			id, _, ans := submitJob(t, s)
			created, done, eta, ok := s.JobTimes(id)
			reported, _ := ans["eta"].(json.Number).Float64()
			if !ok || !created.Equal(time.Now()) || done.Sub(created) < time.Second || done.Sub(created) > 9*time.Second {
				t.Errorf("job %s: created %v, done %v after, ok %v", id, created.Sub(start), done.Sub(created), ok)
			}
			if d, _ := s.DoneAt(id); !d.Equal(done) {
				t.Errorf("job %s: DoneAt %v, JobTimes done %v", id, d, done)
			}
			if eta.Seconds() != reported || eta <= 0 {
				t.Errorf("job %s: JobTimes eta %v, answer's eta %v", id, eta, reported)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, _, _, ok := s.JobTimes("1"); ok {
			t.Error("JobTimes of an unknown id")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{Immediate: true})
		defer s.Close()
		id, _, _ := submitJob(t, s)
		if created, done, eta, ok := s.JobTimes(id); !ok || !done.Equal(created) || eta != 0 {
			t.Errorf("immediate job: created %v, done %v, eta %v, ok %v", created, done, eta, ok)
		}
	})
}

// TestProbeStatsJSON: /_sandbox/stats carries the probe counters under
// their snake_case names.
func TestProbeStatsJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{Delay: -1, ProbeRateLimit: 1})
		defer s.Close()
		_, path, _ := submitJob(t, s)
		hit(s, http.MethodHead, path, "")
		hit(s, http.MethodHead, path, "")
		rec := hit(s, http.MethodGet, "/_sandbox/stats", "")
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("stats: %v %s", err, rec.Body)
		}
		want := map[string]float64{"probes": 2, "probes_ready": 1, "probes_rate_limited": 1, "probe_errors": 0, "max_probes_per_second": 2}
		for k, v := range want {
			if got, ok := m[k].(float64); !ok || got != v {
				t.Errorf("%s = %v, want %v (%s)", k, m[k], v, rec.Body)
			}
		}
	})
}

// TestHeadStatusInvalid: a HeadStatus that is no final HTTP status
// refuses HEAD with 405 instead of breaking the handler.
func TestHeadStatusInvalid(t *testing.T) {
	for _, st := range []int{-1, 42, 102, 600, 1000} {
		var logged []string
		s := New(Options{Delay: -1, HeadStatus: st, Logf: func(f string, a ...any) { logged = append(logged, f) }})
		_, path, _ := submitJob(t, s)
		if rec := hit(s, http.MethodHead, path, ""); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET" {
			t.Errorf("HeadStatus %d: HEAD answered %d, Allow %q", st, rec.Code, rec.Header().Get("Allow"))
		}
		if len(logged) == 0 {
			t.Errorf("HeadStatus %d: nothing logged", st)
		}
		s.Close()
	}
}
