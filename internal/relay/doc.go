// Package relay is mlab's webhook relay through a broker (Redis): one
// `mlab listen --relay URL` holds the public URL and stores every delivery
// for a registered token in the broker before it answers 200; job
// commands and `mlab wait` on any machine register their job's token and
// read its deliveries back as job.Events.
//
// The pieces:
//
//   - [Broker], the small interface a broker implements ([Redis] with
//     go-redis; [Memory] in-process, for tests). NATS JetStream or SQS
//     would be one more implementation.
//   - [Relay], the public side: an http.Handler (or [Relay.Accept], per
//     delivery, for a listener that reads requests itself) plus a
//     heartbeat ([Relay.Start]) that tells waiters a relay is live.
//   - [Waiter] and [Registration], the waiting side: a token registered
//     until the wait's deadline, its stream read from the start (XREAD
//     BLOCK), each entry once as a job.Event; [Waiter.Resume] for `mlab
//     wait`, which reads a stored webhook even when no relay is live.
//   - [Check], `mlab doctor --relay`'s steps.
//
// # Redis keys
//
// Under a prefix (default "mlab:"; [RedisOptions.Prefix]):
//
//	mlab:relays          SET of relay ids that advertised (members whose heartbeat expired are removed by Relays)
//	mlab:relay:<id>      STRING, JSON RelayInfo {id,url,host,version,started}; PX heartbeat TTL (15 s), refreshed every 5 s
//	mlab:token:<token>   STRING, registration time (unix ms); PX until the wait's deadline + RegistrationMargin
//	mlab:stream:<token>  STREAM of deliveries {token,id,received_at,relay,body}; XADD MAXLEN ~ 100; PEXPIRE 24 h at each entry
//	mlab:seen:<token>    HASH delivery id → entry id (Append is idempotent); expires with the stream
//	NAME                 STREAM (--stream NAME, the user's own key, no prefix): every stored delivery,
//	                     {token,id,received_at,relay,body,entry}; MAXLEN ~ 10000; no expiry
//
// A delivery is stored by one Lua script (EVALSHA, reloaded after a
// restart): nothing for a token that is not registered, the same delivery
// id only once (a retried command), the token stream and the --stream
// together or not at all.
//
// # Faults
//
//   - A token nobody registered: 404, nothing stored.
//   - Redis unreachable (or failing) at delivery: 503 with Retry-After
//     and a short body, Options.OnError is told; never a 200 for a
//     delivery Redis does not hold. The sender may retry; a retry that
//     finds the first attempt stored is stored once more under a new
//     delivery id (job.Wait ignores duplicate bodies).
//   - Redis unreachable at a relay's start: [Relay.Start] fails. Later
//     heartbeat failures are retried every second and reported through
//     Options.OnHeartbeat; a relay whose heartbeat lapsed keeps storing.
//   - No live relay when a job registers: [ErrNoRelay]; the caller polls
//     (and watches links) with one notice. Redis unreachable then: the
//     broker's error, the same fallback.
//   - Redis drops the connection while a job waits: the read is retried
//     with backoff (100 ms doubling to 5 s) while the wait's context
//     lives, never past it; Events stays open, and polling and link
//     watching go on meanwhile in job.Wait.
//   - Redis restarted without persistence: heartbeats, registrations and
//     stored deliveries are gone. Relays advertise again at their next
//     heartbeat (within 5 s); a waiter registers its token again at its
//     next check (after the failed read, or within Block) and keeps
//     reading. A webhook that came in between (404) or was stored and
//     lost is not seen: polling and links cover it, as for any webhook.
//   - A waiter killed: its token stays registered until the deadline +
//     margin and deliveries are stored; a new Register of the same token
//     (mlab wait) reads the stream from "0" and finds them.
//   - Two relays behind one URL, one killed: its heartbeat expires
//     (15 s); the other keeps storing (any relay on the same Redis stores
//     for any token), and waiters pick the live one.
//
// The package prints nothing: go-redis's own logger is silenced (process
// wide) at the first [OpenRedis]. No error text holds a password:
// [Redact] is applied to every URL, and Redis's messages are scrubbed.
package relay
