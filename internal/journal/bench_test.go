package journal

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// fill writes n realistic jobs (submit record + finish record each, so 2n
// lines) straight into the log of a fresh journal.
func fill(tb testing.TB, n int) *Journal {
	tb.Helper()
	j, err := Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kinds := []string{"img", "video", "audio", "3d"}
	for i := range n {
		e := Entry{
			ID: fmt.Sprint(134701497 + i), TrackID: fmt.Sprintf("mlab-%016x", i), Endpoint: "text2img", Kind: kinds[i%len(kinds)],
			BaseURL:  "https://modelslab.com",
			FetchURL: fmt.Sprintf("https://modelslab.com/api/v6/images/fetch/%d", 134701497+i),
			Request: map[string]any{"prompt": "a lighthouse at dusk, volumetric light, highly detailed", "model_id": "flux",
				"width": 1024, "height": 1024, "samples": 1, "num_inference_steps": 30, "guidance_scale": 7.5,
				"track_id": fmt.Sprintf("mlab-%016x", i), "webhook": "https://abcd.ngrok.app/hook/0123456789abcdef"},
			SubmittedAt: t0.Add(time.Duration(i) * time.Minute), Status: StatusProcessing,
		}
		e.UpdatedAt = e.SubmittedAt
		line, _ := encode(&e)
		buf.Write(line)
		e.Status = StatusSuccess
		e.Output = []string{fmt.Sprintf("https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/%d.png", i)}
		e.Files = []string{fmt.Sprintf("out/%d.png", i)}
		e.Via = "webhook"
		e.FinishedAt = e.SubmittedAt.Add(12 * time.Second)
		e.UpdatedAt = e.FinishedAt
		line, _ = encode(&e)
		buf.Write(line)
	}
	if err := os.WriteFile(j.Path(), buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return j
}

// BenchmarkList10k is what `mlab jobs` costs on a journal of 10,000 jobs
// (20,000 records): the default listing (Limit 20) and everything, by a
// Journal that has read the log before (limit20, all: it reads what was
// appended since, here nothing) and by a new one each time (cold-…: a new
// process, which reads the whole file).
func BenchmarkList10k(b *testing.B) {
	j := fill(b, 10_000)
	st, _ := os.Stat(j.Path())
	for _, bc := range []struct {
		name  string
		limit int
		cold  bool
	}{{"limit20", 20, false}, {"all", 0, false}, {"cold-limit20", 20, true}, {"cold-all", 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				jj := j
				if bc.cold {
					var err error
					if jj, err = Open(j.Dir()); err != nil {
						b.Fatal(err)
					}
				}
				l, err := jj.List(Filter{Limit: bc.limit})
				if err != nil {
					b.Fatal(err)
				}
				if want := map[int]int{20: 20, 0: 10_000}[bc.limit]; len(l) != want {
					b.Fatalf("%d entries", len(l))
				}
			}
		})
	}
}

// BenchmarkAdd is the cost of recording one job, with and without the
// fsync (on a journal already holding 1,000 jobs).
func BenchmarkAdd(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "fsync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			j := fill(b, 1000)
			j.noSync = !sync
			i := 0
			for b.Loop() {
				i++
				if err := j.Add(Entry{ID: fmt.Sprint("b", i), Kind: "img", Request: map[string]any{"prompt": "p"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpdate1k is the read-modify-append of finishing a job on a
// journal of 1,000 jobs (2,000 records), with and without the fsync.
func BenchmarkUpdate1k(b *testing.B) { benchUpdate(b, 1000) }

// BenchmarkUpdate10k is the same on a journal of 10,000 jobs.
func BenchmarkUpdate10k(b *testing.B) { benchUpdate(b, 10_000) }

func benchUpdate(b *testing.B, n int) {
	for _, sync := range []bool{false, true} {
		name := "fsync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			j := fill(b, n)
			j.noSync = !sync
			i := 0
			for b.Loop() {
				// a different job each time, as a batch finishes its jobs
				id := fmt.Sprint(134701497 + i%n)
				i++
				if err := j.Update(id, func(e *Entry) { e.Message = "x" }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpdateBatch1k is the journal's part of a batch of 1,000 jobs at
// concurrency 100 in one process (one shared Journal, no fsync): each job
// writes its intent, completes it with its id and is finished, on a journal
// that already holds 1,000 older jobs. One op is the whole batch; ns/job is
// the serialized cost per job.
func BenchmarkUpdateBatch1k(b *testing.B) {
	const jobs, conc = 1000, 100
	for b.Loop() {
		b.StopTimer()
		j := fill(b, 1000)
		j.noSync = true
		todo := make(chan int, jobs)
		for i := range jobs {
			todo <- i
		}
		close(todo)
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make(chan error, conc)
		for range conc {
			wg.Go(func() {
				for i := range todo {
					track := fmt.Sprintf("mlab-batch-%d", i)
					at, err := j.AddIntent(Entry{TrackID: track, Endpoint: "text2img", Kind: "img", BatchID: "b1", Line: i + 1,
						Request: map[string]any{"prompt": "a lighthouse at dusk", "model_id": "flux", "track_id": track}})
					if err == nil {
						err = j.Submitted(track, at, fmt.Sprint(900000000+i), "https://modelslab.com/api/v6/images/fetch/x", nil)
					}
					if err == nil {
						err = j.Update(track, func(e *Entry) {
							e.Status, e.Output, e.Via = StatusSuccess, []string{"https://cdn/x.png"}, "webhook"
						})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*jobs), "ns/job")
}
