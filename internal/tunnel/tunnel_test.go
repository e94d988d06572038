package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serve runs an http.Server on ln answering "hello <path>" and returns a
// channel that receives Serve's result.
func serve(t *testing.T, ln net.Listener) (*http.Server, <-chan error) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			_, _ = io.WriteString(w, "hello "+r.URL.Path+" "+string(body))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return srv, done
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLocal(t *testing.T) {
	t.Parallel()
	ep, err := Open(context.Background(), Options{Mode: ModeLocal})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Mode != ModeLocal || !strings.HasPrefix(ep.URL, "http://127.0.0.1:") || ep.Notice != "" {
		t.Fatalf("endpoint = %+v", ep)
	}
	_, done := serve(t, ep.Listener)
	if got := get(t, ep.URL+"/hook/x"); got != "hello /hook/x " {
		t.Fatalf("body = %q", got)
	}
	if err := ep.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ep.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(ep.URL + "/hook/x"); err == nil {
		t.Fatal("GET after Close succeeded")
	}
}

func TestLocalUnspecifiedAddrAdvertisesLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0"} {
		ep, err := Open(context.Background(), Options{Mode: ModeLocal, ListenAddr: addr})
		if err != nil {
			if addr == "[::]:0" {
				t.Logf("no IPv6 here: %v", err)
				continue
			}
			t.Fatal(err)
		}
		port := ep.Listener.Addr().(*net.TCPAddr).Port
		if want := "http://127.0.0.1:" + strconv.Itoa(port); ep.URL != want {
			t.Errorf("%s: URL = %q, want %q", addr, ep.URL, want)
		}
		_, _ = serve(t, ep.Listener)
		if got := get(t, ep.URL+"/a"); got != "hello /a " {
			t.Errorf("%s: body = %q", addr, got)
		}
		_ = ep.Close()
	}
}

func TestLocalListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Open(context.Background(), Options{Mode: ModeLocal, ListenAddr: ln.Addr().String()})
	// The hint naming --listen is cmd's (TestHintFor): here the error
	// names the address and the cause.
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("err = %v, want a listen error naming the address", err)
	}
}

func TestURLMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeURL, ModeAuto} {
		ep, err := Open(context.Background(), Options{
			Mode:      mode,
			PublicURL: " https://hooks.example.com/mlab/ ",
			Authtoken: "ignored-when-public-url-is-set",
		})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if ep.Mode != ModeURL || ep.URL != "https://hooks.example.com/mlab" || ep.Listener == nil {
			t.Fatalf("%s: endpoint = %+v", mode, ep)
		}
		if a := ep.Listener.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
			t.Errorf("%s: default listen addr = %v, want loopback", mode, a)
		}
		_, _ = serve(t, ep.Listener)
		if got := get(t, "http://"+ep.Listener.Addr().String()+"/h"); got != "hello /h " {
			t.Errorf("%s: body = %q", mode, got)
		}
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestURLModeInvalid(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "   ", "hooks.example.com/x", "ftp://hooks.example.com", "https://", "https://h.example/?a=1", "https://h.example/#f", "::nope", "mailto:a@b.c"} {
		ep, err := Open(context.Background(), Options{Mode: ModeURL, PublicURL: u})
		if err == nil {
			_ = ep.Close()
			t.Errorf("PublicURL %q: no error, endpoint %+v", u, ep)
			continue
		}
		if !strings.Contains(err.Error(), "public URL") && !strings.Contains(err.Error(), "--public-url") {
			t.Errorf("PublicURL %q: error %q does not say what is wrong", u, err)
		}
	}
}

func TestNone(t *testing.T) {
	t.Parallel()
	ep, err := Open(context.Background(), Options{Mode: ModeNone, Authtoken: "x", PublicURL: "https://a.example"})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Mode != ModeNone || ep.URL != "" || ep.Listener != nil || ep.Notice != "" {
		t.Fatalf("endpoint = %+v", ep)
	}
	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	var nilEP *Endpoint
	if err := nilEP.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAutoWithoutToken(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{"", ModeAuto} {
		for _, tok := range []string{"", "  "} {
			ep, err := Open(context.Background(), Options{Mode: mode, Authtoken: tok})
			if err != nil {
				t.Fatal(err)
			}
			if ep.Mode != ModeNone || ep.Listener != nil || ep.URL != "" {
				t.Fatalf("endpoint = %+v", ep)
			}
			if ep.Notice != "no ngrok authtoken (NGROK_AUTHTOKEN): polling for results; set one to get webhooks" {
				t.Fatalf("notice = %q", ep.Notice)
			}
		}
	}
}

func TestUnknownMode(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), Options{Mode: "carrier-pigeon"})
	if err == nil || !strings.Contains(err.Error(), "ngrok") {
		t.Fatalf("err = %v", err)
	}
}

func TestNgrokWithoutToken(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"", " \t"} {
		start := time.Now()
		ep, err := Open(context.Background(), Options{Mode: ModeNgrok, Authtoken: tok, AgentConnectURL: "127.0.0.1:1"})
		if !errors.Is(err, ErrNoAuthtoken) || ep != nil {
			t.Fatalf("Open = %v, %v; want ErrNoAuthtoken", ep, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("took %v: the SDK must not be started", d)
		}
		if !strings.Contains(err.Error(), "NGROK_AUTHTOKEN") {
			t.Fatalf("error %q does not say how to set the token", err)
		}
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	const tok = "2abcSECRETtoken_xyz"
	tests := []struct {
		sdk      string
		code     string
		contains string
	}{
		{"authentication failed: Usage of ngrok requires a verified account and authtoken.\n\nERR_NGROK_4018", "ERR_NGROK_4018", "verified account"},
		{"The authtoken you specified " + tok + " does not look like a proper ngrok authtoken.\nERR_NGROK_105", "ERR_NGROK_105", "malformed"},
		{"The authtoken " + tok + " has been revoked. ERR_NGROK_107", "ERR_NGROK_107", "revoked"},
		{"Your account is limited to 1 simultaneous ngrok agent sessions. ERR_NGROK_108", "ERR_NGROK_108", "too many agent sessions"},
		{"The endpoint 'https://x.ngrok.app' is already online. ERR_NGROK_334", "ERR_NGROK_334", "already online"},
		{"something new for " + tok + "\nERR_NGROK_9999", "ERR_NGROK_9999", "https://ngrok.com/docs/errors/err_ngrok_9999/"},
	}
	for _, tt := range tests {
		e := ngrokFailure(errors.New(tt.sdk), tok, 15*time.Second, true, nil)
		if e.Code != tt.code {
			t.Errorf("%q: Code = %q, want %q", tt.sdk, e.Code, tt.code)
		}
		msg := e.Error()
		if !strings.HasPrefix(msg, "open ngrok tunnel: ") || !strings.HasSuffix(msg, "("+tt.code+")") || !strings.Contains(msg, tt.contains) {
			t.Errorf("Error() = %q, want prefix, %q and the code", msg, tt.contains)
		}
		if strings.Contains(msg, tok) || strings.Contains(e.Err.Error(), tok) {
			t.Errorf("authtoken leaked: %q / %q", msg, e.Err)
		}
		if !errors.Is(e, ErrConnectTimeout) {
			t.Errorf("%q: not ErrConnectTimeout", tt.sdk)
		}
	}
	e := ngrokFailure(nil, tok, 15*time.Second, true, nil)
	if got, want := e.Error(), "open ngrok tunnel: could not reach ngrok within 15s: check your network or firewall"; got != want {
		t.Errorf("timeout Error() = %q, want %q", got, want)
	}
	e = ngrokFailure(errors.New("dial tcp: connection refused"), tok, time.Second, false, context.Canceled)
	if !errors.Is(e, context.Canceled) {
		t.Errorf("canceled error %v is not context.Canceled", e)
	}
}
