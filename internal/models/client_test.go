package models

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mlabcli/mlab/internal/api"
)

// testKey has characters that URL encoding changes, so a leak of any of
// its encoded forms is caught too.
const testKey = "sk-Te5t/KEY+odd&chars=9"

func keyForms() []string {
	return []string{testKey, url.QueryEscape(testKey), url.PathEscape(testKey), "Te5t", "odd&chars", "odd%26chars"}
}

// assertNoKey fails when err's text, or the text of any error in its
// chain, holds the key in any form.
func assertNoKey(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	var walk func(error, int)
	walk = func(e error, depth int) {
		if e == nil || depth > 20 {
			return
		}
		s := e.Error()
		for _, f := range keyForms() {
			if strings.Contains(s, f) {
				t.Errorf("error (%T at depth %d) holds the key form %q: %s", e, depth, f, s)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x, depth+1)
			}
		}
	}
	walk(err, 0)
}

type seen struct {
	path, rawPath string
	query         url.Values
	header        string
}

func newServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *[]seen) {
	t.Helper()
	var calls []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, seen{path: r.URL.Path, rawPath: r.URL.EscapedPath(), query: r.URL.Query(), header: r.Header.Get("key")})
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func jsonReply(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprint(w, body)
}

func TestListV7(t *testing.T) {
	srv, calls := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != PathV7List {
			jsonReply(w, 500, `{}`)
			return
		}
		jsonReply(w, 200, `{"data":[{"model_id":"seedream-4","provider":"byteplus","api_endpoint":"https://modelslab.com/api/v7/images/text-to-image"},{"model_id":"b"},{"model_id":"c"}],"meta":{"total":3}}`)
	})
	c := NewClient(srv.URL+"/", testKey, srv.Client())
	ms, err := c.List(context.Background(), Query{Search: "a b&c#d", Feature: "imagen", Provider: "by te", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(ms); len(got) != 2 || got[0] != "seedream-4" || ms[0].API != APIv7 {
		t.Errorf("models = %+v (limit 2)", ms)
	}
	if len(*calls) != 1 {
		t.Fatalf("%d calls", len(*calls))
	}
	q := (*calls)[0].query
	want := map[string]string{"key": testKey, "search": "a b&c#d", "feature": "imagen", "provider": "by te", "per_page": "2", "limit": "2"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("query = %v", q)
	}
	if (*calls)[0].header != testKey {
		t.Errorf("key header = %q", (*calls)[0].header)
	}
}

func TestListNoEmptyParams(t *testing.T) {
	srv, calls := newServer(t, func(w http.ResponseWriter, r *http.Request) { jsonReply(w, 200, `[]`) })
	ms, err := NewClient(srv.URL, "", srv.Client()).List(context.Background(), Query{Search: "  "})
	if err != nil || ms == nil || len(ms) != 0 {
		t.Fatalf("got %v, %v; want an empty list", ms, err)
	}
	q := (*calls)[0].query
	if len(q) != 2 || q.Get("per_page") != "100" || q.Get("limit") != "100" || (*calls)[0].header != "" {
		t.Errorf("query %v header %q, want only the page size", q, (*calls)[0].header)
	}
}

// pagedServer serves n models on the v6 route (v7 answers 404), per_page
// and page as the sandbox reads them; ignorePage serves page 1 always.
func pagedServer(t *testing.T, n int, ignorePage bool) (*httptest.Server, *[]seen) {
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathV6Search {
			jsonReply(w, 404, `{"data":null,"error":{"code":"not_found","message":"Route not found"}}`)
			return
		}
		per, page := 20, 1
		fmt.Sscan(r.URL.Query().Get("per_page"), &per)
		if !ignorePage {
			fmt.Sscan(r.URL.Query().Get("page"), &page)
		}
		if per > 100 {
			jsonReply(w, 422, `{"data":null,"error":{"code":"validation_error","message":"The per page field must be an integer between 1 and 100."}}`)
			return
		}
		var items []string
		for i := (page - 1) * per; i < min(page*per, n); i++ {
			items = append(items, fmt.Sprintf(`{"model_id":"m%03d"}`, i))
		}
		jsonReply(w, 200, `{"data":[`+strings.Join(items, ",")+`],"error":null,"meta":{"total":`+fmt.Sprint(n)+`}}`)
	})
}

func TestListPages(t *testing.T) {
	srv, calls := pagedServer(t, 250, false)
	c := NewClient(srv.URL, testKey, srv.Client())
	ms, err := c.List(context.Background(), Query{Feature: "imagen"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 250 || ms[0].ID != "m000" || ms[249].ID != "m249" {
		t.Errorf("%d models", len(ms))
	}
	// v7 once, then v6 pages 1, 2, 3.
	if len(*calls) != 4 {
		t.Fatalf("%d calls: %+v", len(*calls), *calls)
	}
	for i, want := range []string{"", "", "2", "3"} {
		if got := (*calls)[i].query.Get("page"); got != want {
			t.Errorf("call %d page %q, want %q", i, got, want)
		}
		if (*calls)[i].query.Get("feature") != "imagen" {
			t.Errorf("call %d lost the filter", i)
		}
	}

	*calls = nil
	ms, err = c.List(context.Background(), Query{Limit: 130})
	if err != nil || len(ms) != 130 || len(*calls) != 3 {
		t.Errorf("limit 130: %d models, %d calls, %v", len(ms), len(*calls), err)
	}
	*calls = nil
	ms, err = c.List(context.Background(), Query{Limit: 5})
	if err != nil || len(ms) != 5 || (*calls)[1].query.Get("per_page") != "5" {
		t.Errorf("limit 5: %d models, %v, calls %+v", len(ms), err, *calls)
	}

	// A server that ignores page: the repeat brings nothing new, so List stops.
	srv, calls = pagedServer(t, 250, true)
	ms, err = NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
	if err != nil || len(ms) != 100 || len(*calls) != 3 {
		t.Errorf("page ignored: %d models, %d calls, %v", len(ms), len(*calls), err)
	}
}

func TestListFallsBackToV6(t *testing.T) {
	for name, v7 := range map[string]func(w http.ResponseWriter){
		"404": func(w http.ResponseWriter) { jsonReply(w, 404, `{"message":"Not Found"}`) },
		"405": func(w http.ResponseWriter) { w.WriteHeader(405) },
		"html 200": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>hi</html>")
		},
		"html 500":   func(w http.ResponseWriter) { w.WriteHeader(502); fmt.Fprint(w, "<html>bad gateway</html>") },
		"not a list": func(w http.ResponseWriter) { jsonReply(w, 200, `{"message":"route moved"}`) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, calls := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case PathV7List:
					v7(w)
				case PathV6Search:
					jsonReply(w, 200, `{"status":"success","data":{"items":[{"model_id":"flux","api_version":"v6"}]}}`)
				default:
					w.WriteHeader(500)
				}
			})
			ms, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{Search: "a b&c#d"})
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 || ms[0].ID != "flux" {
				t.Errorf("models = %+v", ms)
			}
			if len(*calls) != 2 || (*calls)[1].path != PathV6Search || (*calls)[1].query.Get("search") != "a b&c#d" ||
				(*calls)[1].query.Get("key") != testKey {
				t.Errorf("calls = %+v", *calls)
			}
		})
	}
}

func TestListNoFallbackOnAuthOrServerError(t *testing.T) {
	srv, calls := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, 401, `{"message":"Invalid Api Key `+testKey+`"}`)
	})
	_, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
	if len(*calls) != 1 {
		t.Errorf("%d calls, want 1 (no fallback on 401)", len(*calls))
	}
	if !api.IsKind(err, api.KindAuth) {
		t.Fatalf("err = %v, want KindAuth", err)
	}
	msg := err.Error()
	for _, want := range []string{"list models", "HTTP 401", "Invalid Api Key", "refused", "mlab config set api_key", "MODELSLAB_API_KEY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	assertNoKey(t, err)
}

func TestAuthErrors(t *testing.T) {
	for name, c := range map[string]struct {
		code int
		body string
		kind api.ErrorKind
	}{
		"403":            {403, `{"data":null,"error":{"code":"forbidden","message":"nope"}}`, api.KindForbidden},
		"200 legacy":     {200, `{"status":"error","message":"Invalid Api Key"}`, api.KindAuth},
		"422 key":        {422, `{"status":"error","message":{"key":["The api key field is required."]}}`, api.KindAuth},
		"401 html":       {401, `<html>401</html>`, api.KindAuth},
		"402":            {402, `{"status":"error","message":"Insufficient credits"}`, api.KindCredits},
		"429":            {429, `{"message":"Too Many Attempts."}`, api.KindRateLimited},
		"500":            {500, `<html>oops</html>`, api.KindServer},
		"200 validation": {200, `{"data":null,"error":{"code":"validation_error","message":{"per_page":["too big"]}}}`, api.KindRejected},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { jsonReply(w, c.code, c.body) })
			_, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
			if !api.IsKind(err, c.kind) {
				t.Fatalf("err = %v, want kind %v", err, c.kind)
			}
			if c.kind == api.KindAuth || c.kind == api.KindForbidden {
				if !strings.Contains(err.Error(), "mlab config set api_key") {
					t.Errorf("%q says nothing to do", err)
				}
			}
			if name == "200 validation" && !strings.Contains(err.Error(), "per_page: too big (validation_error)") {
				t.Errorf("%q lacks the server's message", err)
			}
			assertNoKey(t, err)
		})
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	// A dial error: nothing listens on the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c := NewClient(dead, testKey, nil)
	_, err = c.List(context.Background(), Query{Search: "x"})
	if !api.IsKind(err, api.KindNetwork) || !strings.HasPrefix(err.Error(), "list models: ") {
		t.Errorf("dial: err = %v, want a network error wrapped once", err)
	}
	if strings.Count(err.Error(), "list models") != 1 {
		t.Errorf("wrapped more than once: %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || strings.Contains(ue.URL, "Te5t") {
		t.Errorf("url.Error in the chain: %v", ue)
	}
	assertNoKey(t, err)
	_, err = c.Show(context.Background(), "flux")
	assertNoKey(t, err)

	// A redirect to another host that carries the key on.
	other, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { jsonReply(w, 200, `[]`) })
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path+"?"+r.URL.RawQuery+"&token="+url.QueryEscape(testKey), http.StatusFound)
	})
	_, err = NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
	if err == nil || !strings.Contains(err.Error(), "refused a redirect") {
		t.Errorf("redirect: err = %v", err)
	}
	assertNoKey(t, err)

	// The server echoes the key in its message, in a 404 and a 200 error.
	srv, _ = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, PathV6Search+"/") {
			jsonReply(w, 404, `{"message":"no model for key `+testKey+` `+url.QueryEscape(testKey)+`"}`)
			return
		}
		jsonReply(w, 200, `{"status":"error","message":{"key":"`+testKey+`"}}`)
	})
	c = NewClient(srv.URL, testKey, srv.Client())
	_, err = c.List(context.Background(), Query{})
	assertNoKey(t, err)
	_, err = c.Show(context.Background(), "x")
	assertNoKey(t, err)

	// A bad base URL.
	_, err = NewClient("http://[::1:bad/"+testKey, testKey, nil).List(context.Background(), Query{})
	assertNoKey(t, err)
}

func TestRedirectSameHostFollowed(t *testing.T) {
	srv, calls := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathV7List {
			http.Redirect(w, r, "/moved?"+r.URL.RawQuery, http.StatusMovedPermanently)
			return
		}
		jsonReply(w, 200, `[{"model_id":"a"}]`)
	})
	ms, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
	if err != nil || len(ms) != 1 {
		t.Fatalf("got %v, %v", ms, err)
	}
	if len(*calls) != 2 || (*calls)[1].path != "/moved" {
		t.Errorf("calls = %+v", *calls)
	}
}

func TestShow(t *testing.T) {
	srv, calls := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		jsonReply(w, 200, `{"data":{"name":"Odd","endpoint_configurations":[{"name":"t2i","url":"https://modelslab.com/api/v7/images/text-to-image","parameters":{"required":["prompt"],"properties":{"prompt":{"type":"string"}}}}]}}`)
	})
	d, err := NewClient(srv.URL, testKey, srv.Client()).Show(context.Background(), "a b&c#d")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "a b&c#d" || d.Name != "Odd" || d.API != APIv7 || len(d.Endpoints) != 1 {
		t.Errorf("detail = %+v", d)
	}
	got := (*calls)[0]
	if got.path != PathV6Search+"/a b&c#d" || got.rawPath != PathV6Search+"/a%20b&c%23d" {
		t.Errorf("path %q raw %q", got.path, got.rawPath)
	}
	if got.query.Get("key") != testKey || len(got.query) != 1 || got.header != testKey {
		t.Errorf("query %v header %q", got.query, got.header)
	}
	// A slash in an id stays inside one path segment.
	if _, err := NewClient(srv.URL, testKey, srv.Client()).Show(context.Background(), "Qwen/Qwen2.5"); err != nil {
		t.Fatal(err)
	}
	if raw := (*calls)[1].rawPath; raw != PathV6Search+"/Qwen%2FQwen2.5" {
		t.Errorf("raw path = %q", raw)
	}
	if _, err := NewClient(srv.URL, testKey, srv.Client()).Show(context.Background(), ".."); err != nil {
		t.Fatal(err)
	}
	if got := (*calls)[2]; got.path != PathV6Search+"/.." {
		t.Errorf("path %q raw %q, want the id .. kept as one segment", got.path, got.rawPath)
	}
}

func TestShowNotFound(t *testing.T) {
	for name, reply := range map[string]func(w http.ResponseWriter){
		"404": func(w http.ResponseWriter) {
			jsonReply(w, 404, `{"data":null,"error":{"code":"not_found","message":"Model not found"}}`)
		},
		"404 html":    func(w http.ResponseWriter) { w.WriteHeader(404); fmt.Fprint(w, "<html>") },
		"data null":   func(w http.ResponseWriter) { jsonReply(w, 200, `{"data":null,"error":null}`) },
		"legacy 200":  func(w http.ResponseWriter) { jsonReply(w, 200, `{"status":"error","message":"Model not found."}`) },
		"code only":   func(w http.ResponseWriter) { jsonReply(w, 200, `{"data":null,"error":{"code":"model_not_found"}}`) },
		"empty array": func(w http.ResponseWriter) { jsonReply(w, 200, `{"status":"success","data":[]}`) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { reply(w) })
			_, err := NewClient(srv.URL, testKey, srv.Client()).Show(context.Background(), "nope")
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if !strings.HasPrefix(err.Error(), `show model "nope"`) {
				t.Errorf("err = %q", err)
			}
			assertNoKey(t, err)
		})
	}
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { jsonReply(w, 404, `{}`) })
	if _, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{}); errors.Is(err, ErrNotFound) {
		t.Errorf("a list 404 is not a missing model: %v", err)
	}
	if _, err := NewClient(srv.URL, testKey, srv.Client()).Show(context.Background(), "  "); err == nil {
		t.Error("blank id: no error")
	}
}

func TestDecodeFailures(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>captive portal</html>")
	})
	_, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
	if !api.IsKind(err, api.KindDecode) || !errors.Is(err, ErrNotJSON) || !strings.Contains(err.Error(), "text/html") {
		t.Errorf("err = %v", err)
	}
	_, err = NewClient(srv.URL, testKey, srv.Client()).Show(context.Background(), "x")
	if !api.IsKind(err, api.KindDecode) || !errors.Is(err, ErrNotJSON) {
		t.Errorf("show: err = %v", err)
	}
}

func TestBodyBounded(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"model_id":"` + strings.Repeat("x", 1000) + `"},`)
		fmt.Fprint(w, `[`)
		for n := 0; n <= MaxBodyBytes; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		fmt.Fprint(w, `{"model_id":"end"}]`)
	})
	_, err := NewClient(srv.URL, testKey, srv.Client()).List(context.Background(), Query{})
	if !api.IsKind(err, api.KindDecode) || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("err = %v", err)
	}
}

func TestContextEnds(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewClient(srv.URL, testKey, srv.Client()).List(ctx, Query{})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "list models: ") {
		t.Errorf("err = %v", err)
	}
	assertNoKey(t, err)
}

func TestNewClientDoesNotChangeCallersClient(t *testing.T) {
	hc := &http.Client{}
	c := NewClient("", "k", hc)
	if hc.CheckRedirect != nil {
		t.Error("caller's client changed")
	}
	if c.BaseURL() != api.DefaultBaseURL {
		t.Errorf("base = %q", c.BaseURL())
	}
}
