package job

import "time"

// The official ModelsLab CLI polls 1 s after the submit, then sleeps twice
// as long each time up to 10 s: it fetches at 1, 3, 7, 15, 25, 35 … s. mlab
// never spends more fetches by any moment than that: its k-th fetch of a
// wait is never sent before [OfficialFetchAt](k).
const (
	officialFirst = time.Second
	officialCap   = 10 * time.Second
)

// OfficialFetchAt is when the official CLI sends its k-th fetch (k from 1),
// counted from the submit answer.
func OfficialFetchAt(k int) time.Duration {
	var at time.Duration
	sleep := officialFirst
	for range k {
		at += sleep
		sleep = min(sleep*2, officialCap)
	}
	return at
}

// OfficialFetches is how many fetches the official CLI has sent by elapsed.
func OfficialFetches(elapsed time.Duration) int {
	n := 0
	for OfficialFetchAt(n+1) <= elapsed {
		n++
	}
	return n
}

// The window in which a job with eta E most likely ends: ModelsLab's eta is
// an estimate; the window spans a job that ran 30% short to one that ran
// half again as long.
const (
	windowLo = 0.7
	windowHi = 1.5
)

// probe pacing: inside the window a link is probed every dense interval
// (a hundredth of the eta, within these bounds); before it the gap halves
// as the window nears; after it the gap widens by a tenth of the overshoot
// up to the tail cap.
const (
	minDense    = 150 * time.Millisecond
	maxDense    = 600 * time.Millisecond
	noETAFirst  = 500 * time.Millisecond
	noETAMinGap = 200 * time.Millisecond
	noETAMaxGap = 2 * time.Second
	minTailCap  = 2 * time.Second
	maxTailCap  = 30 * time.Second
)

// schedule places one job's probes and fetches from its eta.
type schedule struct {
	eta          time.Duration
	links        bool          // the job has future links to probe
	grace        time.Duration // wait for a webhook this long past the eta (0: none expected)
	pollInterval time.Duration // first gap of the fetch tail
	maxInterval  time.Duration // longest gap of the fetch tail
}

func (s schedule) lo() time.Duration { return time.Duration(float64(s.eta) * windowLo) }
func (s schedule) hi() time.Duration { return time.Duration(float64(s.eta) * windowHi) }

func (s schedule) dense() time.Duration {
	return min(max(s.eta/100, minDense), maxDense)
}

// nextProbe is when to probe again after a probe at t (or at the start,
// t = 0, for the first).
func (s schedule) nextProbe(t time.Duration) time.Duration {
	if s.eta <= 0 {
		if t < noETAFirst {
			return noETAFirst
		}
		return t + min(max(t/10, noETAMinGap), noETAMaxGap)
	}
	lo, hi, d := s.lo(), s.hi(), s.dense()
	switch {
	case t < lo:
		return t + max(d, (lo-t)/2)
	case t <= hi:
		return t + d
	}
	tailCap := min(max(s.eta/10, minTailCap), maxTailCap)
	return t + min(d+(t-hi)/10, tailCap)
}

// weight is how likely a job is done at t, for the shared probe budget
// (see links.Budget): the square of the time waited in units of the
// window's start, so it keeps growing past the window. A job that has run
// longer than its eta said without a webhook is the likeliest to be done
// and unnoticed (its webhook lost); without an eta, 1/2.
func (s schedule) weight(t time.Duration) float64 {
	if s.eta <= 0 {
		return 0.5
	}
	r := float64(t) / float64(max(s.lo(), time.Millisecond))
	return min(max(r*r, 0.01), maxWeight)
}

// maxWeight caps weight (a job hours past its eta).
const maxWeight = 1000

// fetchWindow is where fetches pay, in order: without links, spread over
// the window where the eta says the job ends (that is where a poll learns
// the end soonest), or without an eta at the official CLI's first four
// times; with links, which tell the end for free, one just past the
// window, to learn of a failure (a failed job's links never appear) or of
// an end the links could not show. Without links, when a webhook is
// expected, none comes before eta + grace, so a working webhook costs no
// fetch at all; with links that floor is not needed (the links see a
// success, the webhook a failure), and a job within its window still costs
// none.
func (s schedule) fetchWindow() []time.Duration {
	var w []time.Duration
	switch {
	case s.eta <= 0:
		// Nothing to go on: the official CLI's own first four.
		for k := 1; k <= 4; k++ {
			w = append(w, OfficialFetchAt(k))
		}
	case s.links:
		w = []time.Duration{s.hi() + time.Second}
	default:
		for _, f := range []float64{0.85, 1, 1.15, 1.3, windowHi} {
			w = append(w, time.Duration(float64(s.eta)*f))
		}
	}
	if s.grace > 0 && (!s.links || s.eta <= 0) {
		floor := s.eta + s.grace
		kept := w[:0]
		for _, at := range w {
			if at >= floor {
				kept = append(kept, at)
			}
		}
		if len(kept) == 0 {
			kept = append(kept, floor)
		}
		w = kept
	}
	return w
}

// fetchPlan hands out the wanted time of each next fetch: the window's,
// then a tail whose gaps grow by half from pollInterval to maxInterval.
// The official CLI's budget is applied on top (see Waiter.nextFetch).
type fetchPlan struct {
	window []time.Duration
	gap    time.Duration
	max    time.Duration
}

func (s schedule) plan() *fetchPlan {
	return &fetchPlan{window: s.fetchWindow(), gap: s.pollInterval, max: s.maxInterval}
}

// next is the wanted time of the fetch after one at t (t = 0 at the start).
func (p *fetchPlan) next(t time.Duration) time.Duration {
	for len(p.window) > 0 {
		at := p.window[0]
		p.window = p.window[1:]
		if at > t {
			return at
		}
	}
	at := t + p.gap
	p.gap = min(p.gap*3/2, p.max)
	return at
}
