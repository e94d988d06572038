package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/ids"
)

// The names of [Check]'s results, in order.
const (
	CheckReachable = "reachable"
	CheckAuth      = "auth"
	CheckHeartbeat = "relay heartbeat"
	CheckRoundTrip = "round trip"
)

// CheckResult is one step of [Check], for cmd to render.
type CheckResult struct {
	Name    string // one of the Check* names
	OK      bool
	Skipped bool          // not tried: an earlier step failed
	Detail  string        // what was found (no password)
	Hint    string        // when not OK: what to do
	Elapsed time.Duration // how long the step took
}

// CheckOptions configures [Check].
type CheckOptions struct {
	Redis   RedisOptions
	Client  *http.Client  // for the round trip's POST; default one with a 10 s timeout
	Timeout time.Duration // for each step; default 10 s
}

// Check is `mlab doctor --relay URL`: Redis reachable, the credentials
// accepted, a live relay heartbeat, and a round trip (a fresh token
// registered, a test webhook POSTed to the relay's public URL, read back
// from the token's stream, the token removed). It returns one result per
// step, in order; a step that cannot run after a failure is Skipped.
func Check(ctx context.Context, rawURL string, o CheckOptions) []CheckResult {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	res := []CheckResult{{Name: CheckReachable}, {Name: CheckAuth}, {Name: CheckHeartbeat}, {Name: CheckRoundTrip}}
	skip := func(from int, why string) []CheckResult {
		for i := from; i < len(res); i++ {
			res[i].Skipped, res[i].Detail = true, why
		}
		return res
	}
	b, err := OpenRedis(rawURL, o.Redis)
	if err != nil {
		res[0].Detail, res[0].Hint = err.Error(), "fix the relay URL (MLAB_RELAY or --relay)"
		return skip(1, "no usable URL")
	}
	defer b.Close()

	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, o.Timeout)
	err = b.Ping(sctx)
	cancel()
	res[0].Elapsed = time.Since(start)
	var re *RedisError
	switch {
	case err == nil || errors.As(err, &re) && re.Auth:
		res[0].OK = true
		res[0].Detail = fmt.Sprintf("Redis at %s (db %d) answers", b.Addr(), b.DB())
		if err == nil {
			vctx, cancel := context.WithTimeout(ctx, o.Timeout)
			if v := b.ServerVersion(vctx); v != "" {
				res[0].Detail = fmt.Sprintf("Redis %s at %s (db %d) answers", v, b.Addr(), b.DB())
			}
			cancel()
		}
	default:
		res[0].Detail = err.Error()
		res[0].Hint = fmt.Sprintf("start Redis or fix the host and port in %s (to try it on a laptop: docker run -d -p 6379:6379 redis)", b.URL())
		return skip(1, "Redis unreachable")
	}
	res[1].Elapsed = res[0].Elapsed
	if err != nil {
		res[1].Detail = err.Error()
		res[1].Hint = "put the right user and password in the relay URL: redis://user:password@host:6379/0"
		return skip(2, "not authenticated")
	}
	res[1].OK, res[1].Detail = true, "the credentials work"
	if !strings.Contains(b.URL(), "@") {
		res[1].Detail = "no password needed"
	}

	start = time.Now()
	w := NewWaiter(b, WaiterOptions{Block: o.Timeout})
	sctx, cancel = context.WithTimeout(ctx, o.Timeout)
	relays, err := b.Relays(sctx)
	cancel()
	res[2].Elapsed = time.Since(start)
	if err != nil {
		res[2].Detail, res[2].Hint = err.Error(), "check the user's ACL (it needs the mlab: keys)"
		return skip(3, "no relay list")
	}
	if len(relays) == 0 {
		res[2].Detail = "no relay is live: no heartbeat under " + b.Prefix() + "relay:*"
		res[2].Hint = "start `mlab listen --relay URL` on the machine with the public URL (jobs poll until then)"
		return skip(3, "no live relay")
	}
	relay := pick(relays)
	res[2].OK = true
	res[2].Detail = fmt.Sprintf("%d live relay(s); webhooks go to %s (relay %s)", len(relays), relay.URL, relay.ID)

	res[3] = roundTrip(ctx, w, o)
	return res
}

func roundTrip(ctx context.Context, w *Waiter, o CheckOptions) (r CheckResult) {
	r.Name = CheckRoundTrip
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	rctx, cancel := context.WithTimeout(ctx, 2*o.Timeout)
	defer cancel()
	reg, err := w.Register(rctx, "", time.Now().Add(time.Minute))
	if err != nil {
		r.Detail, r.Hint = err.Error(), "check the user's ACL (it needs SET, EVALSHA, XADD and XREAD on the mlab: keys)"
		return r
	}
	defer reg.Unregister()
	nonce := ids.Hex(8)
	body := fmt.Sprintf(`{"status":"success","message":"mlab doctor relay round trip","nonce":%q}`, nonce)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, reg.URL, strings.NewReader(body))
	if err != nil {
		r.Detail, r.Hint = err.Error(), "the relay advertises a URL that is not usable: restart it with a valid public URL"
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.Client.Do(req)
	if err != nil {
		r.Detail = fmt.Sprintf("POST to the relay's public URL %s failed: %v", relay(reg), err)
		r.Hint = "the relay's public URL must be reachable from here (and from ModelsLab): check its tunnel or reverse proxy"
		return r
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.Detail = fmt.Sprintf("POST to the relay's public URL %s was answered %s", relay(reg), resp.Status)
		r.Hint = "the URL must lead to `mlab listen --relay` with the same Redis and prefix (a 503: the relay cannot store in Redis)"
		return r
	}
	sent := time.Now()
	select {
	case ev, ok := <-reg.Events:
		if !ok {
			break
		}
		if !bytes.Equal(ev.Body, []byte(body)) {
			r.Detail = "the relay stored another body than the one sent"
			r.Hint = "another program writes to the relay's keys: use a key prefix of your own"
			return r
		}
		r.OK = true
		r.Detail = fmt.Sprintf("a test webhook POSTed to %s was stored and read back (%s after the 200)", relay(reg), time.Since(sent).Round(time.Millisecond))
		return r
	case <-rctx.Done():
	}
	r.Detail = "the relay answered 200, but the delivery did not arrive in the token's stream"
	r.Hint = "the relay at that URL uses another Redis (or prefix) than this one: give both the same --relay URL"
	return r
}

func relay(reg *Registration) string { return reg.Relay.URL + "/<token>" }
