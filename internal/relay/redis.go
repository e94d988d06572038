package relay

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults for [RedisOptions].
const (
	DefaultPrefix        = "mlab:"
	DefaultStreamMaxLen  = 100            // entries kept per token stream (approximately)
	DefaultStreamTTL     = 24 * time.Hour // a token's stream expires this long after its last entry
	DefaultPublishMaxLen = 10_000         // entries kept in a --stream (approximately)
	DefaultPoolSize      = 256            // each waiting job holds one connection in XREAD BLOCK
)

// RedisOptions configures [OpenRedis]. Zero values mean the defaults.
type RedisOptions struct {
	// Prefix starts every key mlab writes (default DefaultPrefix); a
	// --stream NAME is the user's own key, NAME exactly, without it.
	Prefix        string
	StreamMaxLen  int64         // per token stream, MAXLEN ~
	StreamTTL     time.Duration // per token stream expiry, refreshed by every entry
	PublishMaxLen int64         // per --stream, MAXLEN ~
	// DialTimeout, ReadTimeout and WriteTimeout bound one connection
	// attempt and one command's I/O (default 3 s each) unless the URL's
	// query sets them (dial_timeout=…, as go-redis parses them).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	PoolSize                               int // default DefaultPoolSize unless the URL sets pool_size
	// TLS, if set, adjusts the TLS configuration of a rediss:// URL (a
	// private CA, in tests).
	TLS func(*tls.Config)
}

// Redis is the [Broker] on a Redis server (5.0 or later: streams; 6.2 for
// ACL users), through go-redis. It holds a connection pool: open one per
// process and share it.
type Redis struct {
	c        *redis.Client
	o        RedisOptions
	redacted string
	addr     string
	db       int
	scrub    func(string) string
}

var quietOnce sync.Once

// quiet keeps go-redis from printing: its logger writes to stderr, and an
// engine never prints. What matters comes back as errors.
func quiet() { quietOnce.Do(func() { redis.SetLogger(voidLogger{}) }) }

type voidLogger struct{}

func (voidLogger) Printf(context.Context, string, ...any) {}

// OpenRedis parses a redis:// or rediss:// URL (redis://[user:password@]
// host:6379/0, the go-redis form) and returns a broker on it. It does no
// I/O: the first command connects (see [Redis.Ping]).
func OpenRedis(rawURL string, o RedisOptions) (*Redis, error) {
	quiet()
	red := Redact(rawURL)
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, fmt.Errorf("relay URL %s: want redis://[user:password@]host:6379/0 (or rediss:// for TLS)", red)
	}
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("relay URL %s: %s: fix the URL (redis://[user:password@]host:6379/0)", red, scrubText(err.Error(), u))
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.StreamMaxLen <= 0 {
		o.StreamMaxLen = DefaultStreamMaxLen
	}
	if o.StreamTTL <= 0 {
		o.StreamTTL = DefaultStreamTTL
	}
	if o.PublishMaxLen <= 0 {
		o.PublishMaxLen = DefaultPublishMaxLen
	}
	setDefault(&opt.DialTimeout, o.DialTimeout, 3*time.Second)
	setDefault(&opt.ReadTimeout, o.ReadTimeout, 3*time.Second)
	setDefault(&opt.WriteTimeout, o.WriteTimeout, 3*time.Second)
	if opt.PoolSize == 0 {
		opt.PoolSize = o.PoolSize
		if opt.PoolSize <= 0 {
			opt.PoolSize = DefaultPoolSize
		}
	}
	if opt.DialerRetries == 0 {
		// One dial per command attempt: a Redis that refuses connections
		// fails fast (a 503 at once); the callers retry on their own.
		opt.DialerRetries = 1
	}
	// Deadlines of the callers' contexts bound the socket I/O too (a
	// Redis that hangs answers 503 within StoreTimeout, not after the
	// read timeout of every retry).
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true // no CLIENT SETINFO (older servers refuse it)
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if opt.TLSConfig != nil && o.TLS != nil {
		o.TLS(opt.TLSConfig)
	}
	r := &Redis{c: redis.NewClient(opt), o: o, redacted: red, addr: opt.Addr, db: opt.DB}
	r.scrub = func(s string) string { return scrubText(s, u) }
	return r, nil
}

func setDefault(dst *time.Duration, want, def time.Duration) {
	if *dst != 0 {
		return
	}
	if want > 0 {
		*dst = want
	} else {
		*dst = def
	}
}

// URL is the broker's URL with its password redacted.
func (r *Redis) URL() string { return r.redacted }

// Addr is host:port; DB the database number.
func (r *Redis) Addr() string { return r.addr }

// DB is the database number of the URL.
func (r *Redis) DB() int { return r.db }

// Client is the go-redis client (for a --stream consumer, or tests).
func (r *Redis) Client() *redis.Client { return r.c }

// Prefix is the key prefix in use.
func (r *Redis) Prefix() string { return r.o.Prefix }

// The key layout (see the package documentation).
func (r *Redis) relaysKey() string           { return r.o.Prefix + "relays" }
func (r *Redis) relayKey(id string) string   { return r.o.Prefix + "relay:" + id }
func (r *Redis) tokenKey(tok string) string  { return r.o.Prefix + "token:" + tok }
func (r *Redis) streamKey(tok string) string { return r.o.Prefix + "stream:" + tok }
func (r *Redis) seenKey(tok string) string   { return r.o.Prefix + "seen:" + tok }

// StreamKey is the Redis key of token's stream.
func (r *Redis) StreamKey(token string) string { return r.streamKey(token) }

// fail wraps a Redis error once: what failed, on which server, and what to
// do next; never the password.
func (r *Redis) fail(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("relay %s on %s: %w", what, r.redacted, err)
	}
	return &RedisError{What: what, URL: r.redacted, Err: scrubbed{err, r.scrub(err.Error())}, Auth: isAuthError(err)}
}

// RedisError is a failed Redis command: Redis unreachable, refusing the
// credentials, or failing the command.
type RedisError struct {
	What string // the operation ("store a delivery", "read deliveries", …)
	URL  string // redacted
	Auth bool   // the credentials (or the ACL) were refused
	Err  error
}

func (e *RedisError) Error() string {
	hint := "check that Redis runs and is reachable from here (redis-cli -u URL ping)"
	if e.Auth {
		hint = "check the user and password in the relay URL (and the user's ACL)"
	}
	return fmt.Sprintf("relay %s on %s: %v: %s", e.What, e.URL, e.Err, hint)
}

func (e *RedisError) Unwrap() error { return e.Err }

// scrubbed is an error whose text had the password removed; errors.Is/As
// still see the original.
type scrubbed struct {
	err  error
	text string
}

func (s scrubbed) Error() string { return s.text }
func (s scrubbed) Unwrap() error { return s.err }

func isAuthError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM", "ERR invalid password", "ERR AUTH", "ERR Client sent AUTH"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// redactedSecret is what [Redact] puts where a secret was.
const redactedSecret = "xxxxx"

// IsRedacted reports whether the redis URL raw is one [Redact] took a
// secret out of (a journalled URL, say): it cannot log in to a Redis that
// wants a password.
func IsRedacted(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return false
	}
	if pw, ok := u.User.Password(); ok {
		return pw == redactedSecret
	}
	return u.User.Username() == redactedSecret
}

// Redact returns a redis URL fit to show: a password becomes "xxxxx" (a
// user name alone, which some write for a password, too). A string that is
// not a URL keeps nothing before its last '@'.
func Redact(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.User == nil {
		if i := strings.Index(raw, "://"); i >= 0 {
			if at := strings.LastIndex(raw[i+3:], "@"); at >= 0 {
				return raw[:i+3] + redactedSecret + raw[i+3+at:]
			}
		} else if at := strings.LastIndex(raw, "@"); at >= 0 {
			return redactedSecret + raw[at:]
		}
		return raw
	}
	if u.User == nil {
		return u.String()
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redactedSecret)
	} else {
		u.User = url.User(redactedSecret)
	}
	return u.String()
}

// scrubText removes u's password (and user-only userinfo) from s.
func scrubText(s string, u *url.URL) string {
	if u == nil || u.User == nil {
		return s
	}
	secret, ok := u.User.Password()
	if !ok {
		secret = u.User.Username()
	}
	if len(secret) < 1 {
		return s
	}
	s = strings.ReplaceAll(s, secret, redactedSecret)
	if esc := url.QueryEscape(secret); esc != secret {
		s = strings.ReplaceAll(s, esc, redactedSecret)
	}
	if esc := url.PathEscape(secret); esc != secret {
		s = strings.ReplaceAll(s, esc, redactedSecret)
	}
	return s
}

// Ping implements [Broker].
func (r *Redis) Ping(ctx context.Context) error {
	return r.fail("ping", r.c.Ping(ctx).Err())
}

// ServerVersion is the redis_version INFO reports ("" when INFO is denied).
func (r *Redis) ServerVersion(ctx context.Context) string {
	s, err := r.c.Info(ctx, "server").Result()
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return ""
}

// Advertise implements [Broker]: SET relay:<id> <json> PX ttl, and the id
// joins the relays set.
func (r *Redis) Advertise(ctx context.Context, info RelayInfo, ttl time.Duration) error {
	if info.ID == "" || strings.ContainsAny(info.ID, " \r\n") {
		return fmt.Errorf("relay advertise: bad relay id %q", info.ID)
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("relay advertise: %w", err)
	}
	_, err = r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.relayKey(info.ID), b, ttl)
		p.SAdd(ctx, r.relaysKey(), info.ID)
		return nil
	})
	return r.fail("heartbeat", err)
}

// Withdraw implements [Broker].
func (r *Redis) Withdraw(ctx context.Context, relayID string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.relayKey(relayID))
		p.SRem(ctx, r.relaysKey(), relayID)
		return nil
	})
	return r.fail("withdraw the heartbeat", err)
}

// Relays implements [Broker]: the members of the relays set whose
// heartbeat key still exists (the others are removed from the set).
func (r *Redis) Relays(ctx context.Context) ([]RelayInfo, error) {
	ids, err := r.c.SMembers(ctx, r.relaysKey()).Result()
	if err != nil {
		return nil, r.fail("list relays", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	sort.Strings(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.relayKey(id)
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, r.fail("list relays", err)
	}
	var out []RelayInfo
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		var info RelayInfo
		if !ok || json.Unmarshal([]byte(s), &info) != nil || info.URL == "" {
			if v == nil {
				gone = append(gone, ids[i])
			}
			continue
		}
		out = append(out, info)
	}
	if len(gone) > 0 {
		r.c.SRem(ctx, r.relaysKey(), gone...) // best effort: expired heartbeats
	}
	return out, nil
}

// Register implements [Broker]: SET token:<token> <unix ms> PX ttl.
func (r *Redis) Register(ctx context.Context, token string, ttl time.Duration) error {
	if err := checkToken(token); err != nil {
		return err
	}
	return r.fail("register the job's token", r.c.Set(ctx, r.tokenKey(token), time.Now().UnixMilli(), minTTL(ttl)).Err())
}

// Restore implements [Broker]: SET … NX PX ttl.
func (r *Redis) Restore(ctx context.Context, token string, ttl time.Duration) (bool, error) {
	if err := checkToken(token); err != nil {
		return false, err
	}
	ok, err := r.c.SetNX(ctx, r.tokenKey(token), time.Now().UnixMilli(), minTTL(ttl)).Result()
	return ok, r.fail("re-register the job's token", err)
}

// Registered implements [Broker].
func (r *Redis) Registered(ctx context.Context, token string) (bool, error) {
	if checkToken(token) != nil {
		return false, nil
	}
	n, err := r.c.Exists(ctx, r.tokenKey(token)).Result()
	return n > 0, r.fail("look the token up", err)
}

// Unregister implements [Broker]: the token's registration, stream and
// delivery ids go.
func (r *Redis) Unregister(ctx context.Context, token string) error {
	if checkToken(token) != nil {
		return nil
	}
	return r.fail("unregister the job's token", r.c.Del(ctx, r.tokenKey(token), r.streamKey(token), r.seenKey(token)).Err())
}

// appendScript stores a delivery if its token is registered and its id is
// new, in the token's stream and optionally in a shared one, atomically
// (a script runs alone). Replies {0,""} not registered, {1,id} stored,
// {2,id} already stored under id.
//
// KEYS: token, stream, seen[, shared stream]
// ARGV: delivery id, maxlen, ttl ms, token, received_at, relay, body, shared maxlen
var appendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
local prev = redis.call('HGET', KEYS[3], ARGV[1])
if prev then return {2, prev} end
if #KEYS >= 4 then
  local t = redis.call('TYPE', KEYS[4])['ok']
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE the --stream key ' .. KEYS[4] .. ' holds a ' .. t .. ', not a stream')
  end
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
  'token', ARGV[4], 'id', ARGV[1], 'received_at', ARGV[5], 'relay', ARGV[6], 'body', ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], id)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if #KEYS >= 4 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*',
    'token', ARGV[4], 'id', ARGV[1], 'received_at', ARGV[5], 'relay', ARGV[6], 'body', ARGV[7], 'entry', id)
end
return {1, id}
`)

// Append implements [Broker] with one script (EVALSHA): nothing is stored
// for an unregistered token, a delivery id is stored once, and the token
// stream and the shared stream get it together. Each of a shared
// stream's entries has the fields token, id, received_at (RFC 3339),
// relay, body (the raw JSON) and entry (its id in the token's stream).
func (r *Redis) Append(ctx context.Context, d Delivery, stream string) (string, error) {
	if checkToken(d.Token) != nil {
		return "", ErrNotRegistered
	}
	if d.ID == "" {
		return "", errors.New("relay append: the delivery has no id")
	}
	keys := []string{r.tokenKey(d.Token), r.streamKey(d.Token), r.seenKey(d.Token)}
	if stream != "" {
		keys = append(keys, stream)
	}
	res, err := appendScript.Run(ctx, r.c, keys,
		d.ID, r.o.StreamMaxLen, r.o.StreamTTL.Milliseconds(), d.Token,
		d.ReceivedAt.UTC().Format(time.RFC3339Nano), d.RelayID, d.Body, r.o.PublishMaxLen).Slice()
	if err != nil {
		return "", r.fail("store a delivery", err)
	}
	if len(res) != 2 {
		return "", r.fail("store a delivery", fmt.Errorf("unexpected script reply %v", res))
	}
	code, _ := res[0].(int64)
	id, _ := res[1].(string)
	if code == 0 {
		return "", ErrNotRegistered
	}
	return id, nil
}

// Read implements [Broker]: XREAD COUNT 32 BLOCK ms STREAMS
// stream:<token> after, on a connection of its own that CLIENT UNBLOCK
// frees as soon as ctx ends, so that a closed wait gives its connection
// back at once (not at the end of its BLOCK).
func (r *Redis) Read(ctx context.Context, token, after string, block time.Duration) ([]Delivery, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if after == "" {
		after = "0"
	}
	args := &redis.XReadArgs{Streams: []string{r.streamKey(token), after}, Count: 32, Block: -1}
	var res []redis.XStream
	var err error
	if block <= 0 {
		res, err = r.c.XRead(ctx, args).Result()
	} else {
		args.Block = block
		res, err = r.blockingRead(ctx, args)
	}
	if errors.Is(err, redis.Nil) {
		return nil, ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.fail("read deliveries", err)
	}
	var out []Delivery
	for _, s := range res {
		for _, m := range s.Messages {
			out = append(out, messageDelivery(m))
		}
	}
	return out, nil
}

// blockingRead runs a blocking XREAD on a pooled connection of its own
// and unblocks it (CLIENT UNBLOCK, from another connection, until the
// read returns) when ctx ends.
func (r *Redis) blockingRead(ctx context.Context, args *redis.XReadArgs) ([]redis.XStream, error) {
	conn := r.c.Conn()
	defer conn.Close()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		for {
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r.c.ClientUnblock(uctx, id)
			cancel()
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond): // not blocked yet: again
			}
		}
	})
	res, err := conn.XRead(context.WithoutCancel(ctx), args).Result()
	close(done)
	stop()
	return res, err
}

// Deliveries parses the entries of a shared (--stream) stream, as a
// consumer reads them with XREADGROUP.
func Deliveries(msgs []redis.XMessage) []Delivery {
	out := make([]Delivery, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, messageDelivery(m))
	}
	return out
}

func messageDelivery(m redis.XMessage) Delivery {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	d := Delivery{Token: str("token"), ID: str("id"), Entry: m.ID, RelayID: str("relay"), Body: []byte(str("body"))}
	d.ReceivedAt, _ = time.Parse(time.RFC3339Nano, str("received_at"))
	if d.ReceivedAt.IsZero() {
		if ms, err := strconv.ParseInt(strings.SplitN(m.ID, "-", 2)[0], 10, 64); err == nil {
			d.ReceivedAt = time.UnixMilli(ms)
		}
	}
	return d
}

// Close implements [Broker].
func (r *Redis) Close() error { return r.c.Close() }

// minTTL keeps a TTL positive (Redis refuses PX 0).
func minTTL(ttl time.Duration) time.Duration { return max(ttl, time.Millisecond) }

// checkToken refuses tokens that cannot be a path segment (and so never
// come from a relay).
func checkToken(tok string) error {
	if tok == "" || len(tok) > 256 || strings.ContainsAny(tok, "/ \r\n\t") {
		return fmt.Errorf("relay: bad webhook token %q: a token is one path segment", clip(tok))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

var _ Broker = (*Redis)(nil)
