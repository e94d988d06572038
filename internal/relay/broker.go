package relay

import (
	"context"
	"errors"
	"time"
)

// Broker is what the relay and its waiters need of a message broker. [Redis]
// is the implementation; [Memory] is an in-process one for tests. Another
// broker (NATS JetStream, SQS, …) is one more implementation of these
// methods. Every method is safe for concurrent use, honours ctx for the
// wait it does itself (a command in flight may finish first), and returns
// errors that never contain a password.
type Broker interface {
	// Ping checks that the broker answers (and that the credentials work).
	Ping(ctx context.Context) error

	// Advertise announces (or refreshes) a live relay for ttl: a relay
	// whose announcements stop disappears from Relays after ttl.
	Advertise(ctx context.Context, r RelayInfo, ttl time.Duration) error
	// Withdraw removes a relay's announcement at once (a clean stop).
	Withdraw(ctx context.Context, relayID string) error
	// Relays lists the live relays, in no particular order.
	Relays(ctx context.Context) ([]RelayInfo, error)

	// Register makes the relays accept deliveries for token for ttl from
	// now (overwriting an earlier expiry, so it also extends one).
	Register(ctx context.Context, token string, ttl time.Duration) error
	// Restore registers token for ttl only when it is not registered (it
	// expired, or the broker lost it in a restart): true when it did.
	Restore(ctx context.Context, token string, ttl time.Duration) (bool, error)
	// Registered reports whether token is registered.
	Registered(ctx context.Context, token string) (bool, error)
	// Unregister forgets token: its registration and what was stored for it.
	Unregister(ctx context.Context, token string) error

	// Append stores d (d.Token, d.ID, d.ReceivedAt, d.RelayID, d.Body) in
	// its token's stream and, when stream is not "", in that shared stream
	// too, all or nothing; it returns once the broker holds them. A token
	// that is not registered stores nothing and returns ErrNotRegistered.
	// It is idempotent by d.ID: appending a delivery id again (a retry
	// whose first answer was lost) stores nothing and returns the first
	// entry id.
	Append(ctx context.Context, d Delivery, stream string) (entry string, err error)
	// Read returns the token's deliveries after entry id after ("0": from
	// the start), oldest first, waiting up to block for one to arrive;
	// none (nil, nil) when none came.
	Read(ctx context.Context, token, after string, block time.Duration) ([]Delivery, error)

	// Close releases the connections; blocked Reads return.
	Close() error
}

// RelayInfo is one live relay, as advertised.
type RelayInfo struct {
	ID      string    `json:"id"`             // unique per relay process
	URL     string    `json:"url"`            // public base URL, no trailing slash: webhooks go to URL + "/" + token
	Host    string    `json:"host,omitempty"` // the machine it runs on
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started"`
}

// Delivery is one webhook as stored by a relay.
type Delivery struct {
	Token      string    // the path token it was addressed to
	ID         string    // the relay's id for this delivery (Append is idempotent by it)
	Entry      string    // the broker's id for the stored entry (set by Append and Read)
	ReceivedAt time.Time // when the relay had read the whole body
	RelayID    string    // the relay that took it
	Body       []byte    // the raw JSON body
}

// ErrNotRegistered is an Append for a token nobody registered (the relay
// answers 404 and stores nothing).
var ErrNotRegistered = errors.New("webhook token not registered")

// ErrNoRelay is a waiter's Register when no relay is live (no heartbeat):
// the caller polls instead, with one notice.
var ErrNoRelay = errors.New("no live mlab relay (no heartbeat in Redis): start `mlab listen --relay URL` on the machine with the public URL; until then results are polled")
