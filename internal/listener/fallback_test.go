package listener

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestFallbackTakesUnknownTokens(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	s, base := startServer(t, Options{MaxBody: 64, Fallback: func(ctx context.Context, token string, body []byte, at time.Time) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		switch token {
		case "relayed":
			got[token] = string(body)
			return http.StatusOK, nil
		case "down":
			return http.StatusServiceUnavailable, errors.New("redis down")
		}
		return http.StatusNotFound, nil
	}})
	ch, unreg, err := s.Register("local")
	if err != nil {
		t.Fatal(err)
	}
	defer unreg()
	if code, _ := post(t, base+"/local", `{"a":1}`); code != 200 {
		t.Fatalf("local: %d", code)
	}
	if d := <-ch; string(d.Body) != `{"a":1}` {
		t.Fatalf("local body %q", d.Body)
	}
	for _, c := range []struct {
		tok, body string
		want      int
	}{
		{"relayed", `{"b":2}`, 200},
		{"nobody", `{"c":3}`, 404},
		{"down", `{"d":4}`, 503},
		{"relayed", `not json`, 400},
		{"relayed", `{"big":"` + string(make([]byte, 100)) + `"}`, 413},
	} {
		if code, _ := post(t, base+"/"+c.tok, c.body); code != c.want {
			t.Errorf("POST /%s %q: %d, want %d", c.tok, c.body[:min(10, len(c.body))], code, c.want)
		}
	}
	if got["relayed"] != `{"b":2}` {
		t.Errorf("fallback got %q", got["relayed"])
	}
	resp, err := http.Get(base + "/relayed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET of a fallback token: %d, want 404", resp.StatusCode)
	}
}
