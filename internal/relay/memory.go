package relay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is an in-process [Broker] with the Redis broker's semantics
// (expiring heartbeats and registrations, bounded per-token streams,
// idempotent appends), for tests of code that uses a relay without a Redis
// server; time is time.Now, so it runs under testing/synctest. Fail, when
// set, makes every call fail with its error (a broker that is down).
type Memory struct {
	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) on every append
	relays  map[string]memItem[RelayInfo]
	tokens  map[string]time.Time // token → expiry
	streams map[string][]Delivery
	shared  map[string][]Delivery
	seen    map[string]string // token + "\x00" + delivery id → entry
	seq     int64
	fail    error
	closed  bool
	maxLen  int
}

type memItem[T any] struct {
	v   T
	exp time.Time
}

// NewMemory returns an empty in-process broker.
func NewMemory() *Memory {
	return &Memory{
		changed: make(chan struct{}),
		relays:  map[string]memItem[RelayInfo]{},
		tokens:  map[string]time.Time{},
		streams: map[string][]Delivery{},
		shared:  map[string][]Delivery{},
		seen:    map[string]string{},
		maxLen:  DefaultStreamMaxLen,
	}
}

// SetFail makes every call fail with err (nil: work again).
func (m *Memory) SetFail(err error) {
	m.mu.Lock()
	m.fail = err
	close(m.changed) // blocked Reads see it
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Shared returns what was appended to a shared stream.
func (m *Memory) Shared(stream string) []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Delivery(nil), m.shared[stream]...)
}

func (m *Memory) check() error {
	if m.closed {
		return errors.New("relay: broker closed")
	}
	return m.fail
}

// Ping implements [Broker].
func (m *Memory) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.check()
}

// Advertise implements [Broker].
func (m *Memory) Advertise(ctx context.Context, r RelayInfo, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return err
	}
	m.relays[r.ID] = memItem[RelayInfo]{r, time.Now().Add(ttl)}
	return nil
}

// Withdraw implements [Broker].
func (m *Memory) Withdraw(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return err
	}
	delete(m.relays, id)
	return nil
}

// Relays implements [Broker].
func (m *Memory) Relays(ctx context.Context) ([]RelayInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	var out []RelayInfo
	now := time.Now()
	for id, it := range m.relays {
		if !now.Before(it.exp) {
			delete(m.relays, id)
			continue
		}
		out = append(out, it.v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (m *Memory) registeredLocked(tok string) bool {
	exp, ok := m.tokens[tok]
	if ok && !time.Now().Before(exp) {
		delete(m.tokens, tok)
		return false
	}
	return ok
}

// Register implements [Broker].
func (m *Memory) Register(ctx context.Context, token string, ttl time.Duration) error {
	if err := checkToken(token); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return err
	}
	m.tokens[token] = time.Now().Add(minTTL(ttl))
	return nil
}

// Restore implements [Broker].
func (m *Memory) Restore(ctx context.Context, token string, ttl time.Duration) (bool, error) {
	if err := checkToken(token); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return false, err
	}
	if m.registeredLocked(token) {
		return false, nil
	}
	m.tokens[token] = time.Now().Add(minTTL(ttl))
	return true, nil
}

// Registered implements [Broker].
func (m *Memory) Registered(ctx context.Context, token string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return false, err
	}
	return m.registeredLocked(token), nil
}

// Unregister implements [Broker].
func (m *Memory) Unregister(ctx context.Context, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return err
	}
	delete(m.tokens, token)
	delete(m.streams, token)
	for k := range m.seen {
		if strings.HasPrefix(k, token+"\x00") {
			delete(m.seen, k)
		}
	}
	return nil
}

// Append implements [Broker].
func (m *Memory) Append(ctx context.Context, d Delivery, stream string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return "", err
	}
	if !m.registeredLocked(d.Token) {
		return "", ErrNotRegistered
	}
	if d.ID == "" {
		return "", errors.New("relay append: the delivery has no id")
	}
	if prev, ok := m.seen[d.Token+"\x00"+d.ID]; ok {
		return prev, nil
	}
	m.seq++
	d.Entry = fmt.Sprintf("%d-0", m.seq)
	d.Body = append([]byte(nil), d.Body...)
	s := append(m.streams[d.Token], d)
	if len(s) > m.maxLen {
		s = s[len(s)-m.maxLen:]
	}
	m.streams[d.Token] = s
	m.seen[d.Token+"\x00"+d.ID] = d.Entry
	if stream != "" {
		m.shared[stream] = append(m.shared[stream], d)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return d.Entry, nil
}

func entrySeq(id string) int64 {
	if id == "" || id == "0" {
		return 0
	}
	n, _ := strconv.ParseInt(id[:len(id)-2], 10, 64)
	return n
}

// Read implements [Broker].
func (m *Memory) Read(ctx context.Context, token, after string, block time.Duration) ([]Delivery, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	var timeout <-chan time.Time
	if block > 0 {
		t := time.NewTimer(block)
		defer t.Stop()
		timeout = t.C
	}
	from := entrySeq(after)
	for {
		m.mu.Lock()
		if err := m.check(); err != nil {
			m.mu.Unlock()
			return nil, err
		}
		var out []Delivery
		for _, d := range m.streams[token] {
			if entrySeq(d.Entry) > from {
				out = append(out, d)
			}
		}
		changed := m.changed
		m.mu.Unlock()
		if len(out) > 0 || timeout == nil {
			return out, nil
		}
		select {
		case <-changed:
		case <-timeout:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements [Broker].
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.changed)
		m.changed = make(chan struct{})
	}
	return nil
}

var _ Broker = (*Memory)(nil)
