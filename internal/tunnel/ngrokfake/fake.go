// Package ngrokfake is an in-process fake of ngrok's agent ingress, for tests
// only. It lets the real ngrok-go v2 SDK authenticate, bind an endpoint and
// receive proxied HTTP requests entirely on loopback, through
// ngrok.WithAgentConnectURL(fake.Addr()) and
// ngrok.WithAgentConnectCAs(fake.CAPool()) (in mlab: tunnel.Options
// AgentConnectURL and AgentConnectCAs).
//
// The protocol it speaks (read from ngrok/v2 internal/tunnel/proto and
// internal/tunnel/client): TLS, then a muxado session carrying typed streams.
// The first 4 bytes of a stream are its big-endian type. Agent-initiated RPC
// streams (Auth=0, Bind=1, Unbind=2, SrvInfo=8, PatchTunnelState=10) carry
// one JSON request and one JSON response. Heartbeats are streams of type
// 0xFFFFFFFF that echo 4-byte ids. Proxy streams (type 3) are opened by the
// server: an int64 little-endian length, a JSON ProxyHeader naming the bind
// id, then the raw bytes of the proxied connection.
//
// Only what mlab's tests need is implemented: no labels, no multi-leg, no
// agent metrics, no traffic policy.
package ngrokfake

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.ngrok.com/muxado/v2"
)

// Stream types of the ngrok agent protocol (ngrok/v2 internal/tunnel/proto).
const (
	typeAuth             muxado.StreamType = 0
	typeBind             muxado.StreamType = 1
	typeUnbind           muxado.StreamType = 2
	typeProxy            muxado.StreamType = 3
	typeSrvInfo          muxado.StreamType = 8
	typePatchTunnelState muxado.StreamType = 10
)

// Options configures a fake.
type Options struct {
	// ValidToken is the only authtoken accepted. Empty accepts any token.
	// A wrong token gets an Auth error containing ERR_NGROK_105 (and, like a
	// careless server, the token itself, so tests can check redaction); the
	// SDK then retries forever.
	ValidToken string
	// HoldBind makes the fake never answer Bind requests (a stuck bind).
	HoldBind bool
	// BindError, when set, is returned as the Bind error, e.g.
	// "The endpoint is already online. ERR_NGROK_334".
	BindError string
}

// Fake is a running fake ingress. Its methods are safe for concurrent use.
type Fake struct {
	opts   Options
	ln     net.Listener
	pool   *x509.CertPool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     map[*session]struct{}
	binds     map[string]*binding // by bind id
	tokens    map[string]string   // bind token -> URL, so reconnects keep their URL
	auths     int
	unbinds   int
	stalled   bool
	unstalled chan struct{} // closed while not stalled
	closed    bool
}

type binding struct {
	id    string
	url   string
	proto string
	sess  *session
}

type session struct {
	mux  muxado.TypedStreamSession
	conn *stallConn
}

// Start starts a fake on 127.0.0.1 with a freshly generated CA and registers
// Close with t.Cleanup.
func Start(t testing.TB, opts Options) *Fake {
	t.Helper()
	f, err := New(opts)
	if err != nil {
		t.Fatalf("start fake ngrok ingress: %v", err)
	}
	t.Cleanup(f.Close)
	return f
}

// New starts a fake without a testing.TB; the caller must Close it.
func New(opts Options) (*Fake, error) {
	cert, pool, err := newCert()
	if err != nil {
		return nil, err
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fake{
		opts:      opts,
		ln:        raw,
		pool:      pool,
		ctx:       ctx,
		cancel:    cancel,
		conns:     map[*session]struct{}{},
		binds:     map[string]*binding{},
		tokens:    map[string]string{},
		unstalled: make(chan struct{}),
	}
	close(f.unstalled)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	f.wg.Add(1)
	go f.serve(tlsConf)
	return f, nil
}

// Addr is the host:port to pass to ngrok.WithAgentConnectURL.
func (f *Fake) Addr() string { return f.ln.Addr().String() }

// CAPool holds the fake's CA, for ngrok.WithAgentConnectCAs.
func (f *Fake) CAPool() *x509.CertPool { return f.pool }

// AuthCount is the number of Auth requests received so far.
func (f *Fake) AuthCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.auths
}

// UnbindCount is the number of Unbind requests received so far.
func (f *Fake) UnbindCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unbinds
}

// URLs returns the public URLs of the currently bound endpoints.
func (f *Fake) URLs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.binds {
		out = append(out, b.url)
	}
	return out
}

// Stall freezes every current and future agent connection: the fake stops
// reading and writing, like a link that silently died. Unstall resumes.
func (f *Fake) Stall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stalled {
		f.stalled = true
		f.unstalled = make(chan struct{})
	}
}

// Unstall ends a Stall.
func (f *Fake) Unstall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stalled {
		f.stalled = false
		close(f.unstalled)
	}
}

func (f *Fake) gate() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unstalled
}

// DropSessions closes every agent connection from the server side (the
// agent will reconnect by itself and rebind its URL). Caution under -race:
// ngrok-go v2.4.0 leaves the dropped raw session's heartbeat running, and
// when it times out (heartbeat interval + tolerance later) it reads a logger
// field that the session's Auth wrote unsynchronised, which the race
// detector reports.
func (f *Fake) DropSessions() {
	f.mu.Lock()
	sessions := make([]*session, 0, len(f.conns))
	for s := range f.conns {
		sessions = append(sessions, s)
	}
	f.mu.Unlock()
	for _, s := range sessions {
		_ = s.conn.Close()
		_ = s.mux.Close()
	}
}

// Close stops the fake, closes every connection and waits for the fake's
// goroutines to end. It is idempotent.
func (f *Fake) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	_ = f.ln.Close()
	f.DropSessions()
	f.wg.Wait()
}

// Do sends req through the tunnel to the agent, as ngrok's edge would, and
// returns the agent's response. The endpoint is chosen by req.URL's host
// among the bound URLs (any bound endpoint if only one is bound). The
// request is sent with Connection: close; closing the response body closes
// the proxied stream.
func (f *Fake) Do(req *http.Request) (*http.Response, error) {
	b, err := f.pick(req.URL)
	if err != nil {
		return nil, err
	}
	stream, err := b.sess.mux.OpenTypedStream(typeProxy)
	if err != nil {
		return nil, fmt.Errorf("open proxy stream: %w", err)
	}
	stop := context.AfterFunc(req.Context(), func() { _ = stream.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = stream.Close()
		if cerr := req.Context().Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}

	hdr, err := json.Marshal(map[string]any{
		"Id":         b.id,
		"ClientAddr": "192.0.2.10:40000",
		"Proto":      b.proto,
		"EdgeType":   "3",
	})
	if err != nil {
		return fail(err)
	}
	var buf []byte
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	if _, err := stream.Write(buf); err != nil {
		return fail(fmt.Errorf("write proxy header: %w", err))
	}
	out := req.Clone(req.Context())
	out.Close = true
	out.RequestURI = ""
	if err := out.Write(stream); err != nil {
		return fail(fmt.Errorf("write proxied request: %w", err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(stream), out)
	if err != nil {
		return fail(fmt.Errorf("read proxied response: %w", err))
	}
	resp.Body = &streamBody{ReadCloser: resp.Body, stream: stream, stop: stop}
	return resp, nil
}

type streamBody struct {
	io.ReadCloser
	stream io.Closer
	stop   func() bool
	once   sync.Once
}

func (b *streamBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.stop()
		_ = b.stream.Close()
	})
	return err
}

func (f *Fake) pick(u *url.URL) (*binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.binds) == 0 {
		return nil, errors.New("ngrokfake: no endpoint bound")
	}
	if u != nil && u.Host != "" {
		for _, b := range f.binds {
			if bu, err := url.Parse(b.url); err == nil && bu.Host == u.Host {
				return b, nil
			}
		}
	}
	if len(f.binds) == 1 {
		for _, b := range f.binds {
			return b, nil
		}
	}
	host := ""
	if u != nil {
		host = u.Host
	}
	return nil, fmt.Errorf("ngrokfake: no endpoint bound for host %q", host)
}

func (f *Fake) serve(tlsConf *tls.Config) {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		sc := &stallConn{Conn: c, gate: f.gate, done: make(chan struct{})}
		tc := tls.Server(sc, tlsConf)
		mux := muxado.NewTypedStreamSession(muxado.Server(tc, &muxado.Config{}))
		s := &session{mux: mux, conn: sc}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			_ = mux.Close()
			_ = sc.Close()
			return
		}
		f.conns[s] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.handleSession(s)
	}
}

func (f *Fake) handleSession(s *session) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, s)
		for id, b := range f.binds {
			if b.sess == s {
				delete(f.binds, id)
			}
		}
		f.mu.Unlock()
		_ = s.mux.Close()
		_ = s.conn.Close()
	}()
	for {
		st, err := s.mux.AcceptTypedStream()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer st.Close()
			f.handleStream(s, st)
		}()
	}
}

func (f *Fake) handleStream(s *session, st muxado.TypedStream) {
	switch st.StreamType() {
	case 0xFFFFFFFF: // heartbeat: echo 4-byte ids
		var id [4]byte
		for {
			if _, err := io.ReadFull(st, id[:]); err != nil {
				return
			}
			if _, err := st.Write(id[:]); err != nil {
				return
			}
		}
	case typeAuth:
		var req struct {
			Version  []string
			ClientID string `json:"ClientId"`
			Extra    struct{ Authtoken, Cookie string }
		}
		if !decode(st, &req) {
			return
		}
		f.mu.Lock()
		f.auths++
		f.mu.Unlock()
		resp := map[string]any{"Version": "3", "ClientId": randID("cl")}
		if f.opts.ValidToken != "" && req.Extra.Authtoken != f.opts.ValidToken {
			resp["Error"] = fmt.Sprintf("The authtoken you specified %q does not look like a proper ngrok authtoken.\nYour authtoken: %s\nInstructions to install your authtoken are on your ngrok dashboard:\nhttps://dashboard.ngrok.com/get-started/your-authtoken\n\nERR_NGROK_105\n", req.Extra.Authtoken, req.Extra.Authtoken)
		} else {
			resp["Extra"] = map[string]any{
				"Version":        "fake",
				"Region":         "local",
				"Cookie":         "fake-cookie",
				"AccountName":    "fake",
				"PlanName":       "Free",
				"AgentSessionID": randID("as"),
			}
		}
		encode(st, resp)
	case typeBind:
		var req struct {
			ID    string `json:"Id"`
			Proto string
			Opts  struct{ URL, Hostname string }
			Extra struct{ Token string }
		}
		if !decode(st, &req) {
			return
		}
		if f.opts.HoldBind {
			select {
			case <-f.ctx.Done():
			case <-s.conn.done:
			}
			return
		}
		if f.opts.BindError != "" {
			encode(st, map[string]any{"Error": f.opts.BindError})
			return
		}
		f.mu.Lock()
		id := req.ID
		if id == "" {
			id = randID("bind")
		}
		token := req.Extra.Token
		u := f.tokens[token]
		if u == "" {
			u = req.Opts.URL
			if u == "" {
				u = "https://" + randID("") + ".ngrok-fake.test"
			}
			token = randID("tok")
			f.tokens[token] = u
		}
		proto := req.Proto
		if proto == "" {
			proto = "https"
		}
		f.binds[id] = &binding{id: id, url: u, proto: proto, sess: s}
		f.mu.Unlock()
		host := strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
		encode(st, map[string]any{
			"Id":    id,
			"URL":   u,
			"Proto": proto,
			"Opts":  map[string]any{"URL": u, "Hostname": host},
			"Extra": map[string]any{"Token": token, "TunnelID": randID("tn")},
		})
	case typeUnbind:
		var req struct {
			ID string `json:"Id"`
		}
		if !decode(st, &req) {
			return
		}
		f.mu.Lock()
		f.unbinds++
		delete(f.binds, req.ID)
		f.mu.Unlock()
		encode(st, map[string]any{})
	case typeSrvInfo:
		if decode(st, &struct{}{}) {
			encode(st, map[string]any{"Region": "local"})
		}
	case typePatchTunnelState:
		if decode(st, &struct{}{}) {
			encode(st, map[string]any{})
		}
	default:
		// Unknown or unsupported stream (e.g. agent metrics): drop it.
	}
}

func decode(r io.Reader, v any) bool {
	return json.NewDecoder(r).Decode(v) == nil
}

func encode(w io.Writer, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

func randID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if prefix == "" {
		return hex.EncodeToString(b[:])
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// stallConn blocks reads and writes while the fake is stalled.
type stallConn struct {
	net.Conn
	gate func() <-chan struct{}
	once sync.Once
	done chan struct{}
}

func (c *stallConn) wait() error {
	select {
	case <-c.gate():
		return nil
	case <-c.done:
		return net.ErrClosed
	}
}

func (c *stallConn) Read(p []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if err == nil {
		// A read that raced with Stall must not deliver data to the
		// session until the stall ends.
		if werr := c.wait(); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// newCert makes a throwaway CA and a server certificate for 127.0.0.1 (IP
// SAN) and localhost, signed by it.
func newCert() (tls.Certificate, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ngrokfake test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, pool, nil
}
