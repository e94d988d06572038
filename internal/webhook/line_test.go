package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDuplicates(t *testing.T) {
	var dd Deduper
	seq := []struct {
		body string
		dup  bool
	}{
		{`{"status":"success","id":1,"track_id":"a"}`, false},
		{`{"status":"success","id":1,"track_id":"a"}`, true},
		{"{\n  \"status\": \"success\", \"id\": 1, \"track_id\": \"a\", \"generationTime\": 3}", true}, // same job, same status
		{`{"status":"failed","id":1,"track_id":"a"}`, false},                                           // a new status
		{`{"status":"success","id":2,"track_id":"a"}`, false},
		{`{"status":"success","training_status":"deploying_gpu","model_id":"m"}`, false},
		{`{"status":"success","training_status":"trained","model_id":"m"}`, false},
		{`{"status":"success","training_status":"trained","model_id":"m"}`, true},
		{`{"x":1}`, false},
		{`{ "x" : 1 }`, true}, // no id: keyed by the compact body
		{`{"x":2}`, false},
	}
	for i, s := range seq {
		p, err := Process(Delivery{Body: []byte(s.body), Header: http.Header{}}, &dd)
		if err != nil {
			t.Fatal(err)
		}
		if p.Duplicate != s.dup {
			t.Errorf("delivery %d %s: duplicate=%v, want %v", i, s.body, p.Duplicate, s.dup)
		}
	}
}

func TestDeliveryLineKeepsExactBytes(t *testing.T) {
	for _, body := range [][]byte{
		readPayload(t, "webhook.success.json"),                                           // pretty: raw_body
		[]byte(`{"status":"success","output":["https:\/\/x\/a.png"],"note":"<b>&</b>"}`), // compact, PHP slashes, HTML chars
		[]byte("{\"s\":\"\xff\xfe\"}"),                                                   // not UTF-8: raw_body_base64
	} {
		var dd Deduper
		p, err := Process(Delivery{Body: body, Method: "POST", Path: "/t", Header: http.Header{"Content-Type": {"application/json"}}, ReceivedAt: time.Now()}, &dd)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(p.Line, []byte("\n")) != 1 || !bytes.HasSuffix(p.Line, []byte("\n")) {
			t.Fatalf("not one line: %q", p.Line)
		}
		var l Line
		if err := json.Unmarshal(p.Line, &l); err != nil {
			t.Fatal(err)
		}
		got, err := l.BodyBytes()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, body)
		}
		if !json.Valid(l.Body) || l.Headers["Content-Type"] != "application/json" || l.Method != "POST" || l.Path != "/t" {
			t.Fatalf("line %s", p.Line)
		}
	}
}

func TestDeduperStartsAfreshPastItsBound(t *testing.T) {
	var dd Deduper
	if dd.check("first") {
		t.Fatal("a fresh key is a duplicate")
	}
	if !dd.check("first") {
		t.Fatal("a repeated key is not a duplicate")
	}
	for i := range maxDedupe - 1 {
		dd.check(fmt.Sprint("k", i))
	}
	// The set is full: the next check starts afresh, so "first" is new again.
	if dd.check("first") {
		t.Fatal("the set did not start afresh at its bound")
	}
	if len(dd.seen) != 1 {
		t.Fatalf("%d keys after starting afresh", len(dd.seen))
	}
}

func TestReadRecordsSkipsWhatIsNotADelivery(t *testing.T) {
	in := strings.Join([]string{
		`{"method":"PUT","headers":{"content-type":"text/json","X-Custom":"a, b"},"body":{"id":1,"track_id":"t1","status":"success"}}`,
		``,
		`not json`,
		`{"method":"POST","headers":{}}`,
		`{"body":{"x":1},"raw_body_base64":"eyJzIjoi/w=="}`,
		`{"body":{"model_id":"m1","training_status":"trained"},"raw_body":"{ \"model_id\": \"m1\", \"training_status\": \"trained\" }"}`,
		`{"body":{"cut":`,
	}, "\n")
	var warned []string
	recs, err := ReadRecords(strings.NewReader(in), func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].LineNo != 1 || recs[1].LineNo != 5 || recs[2].LineNo != 6 {
		t.Fatalf("records %+v", recs)
	}
	want := []string{"line 3 is not a recorded delivery", "line 4 has no body", "line 7 is incomplete"}
	if len(warned) != len(want) {
		t.Fatalf("warned %q", warned)
	}
	for i, w := range want {
		if !strings.HasPrefix(warned[i], w) {
			t.Errorf("warning %d = %q, want %q...", i, warned[i], w)
		}
	}
	if string(recs[1].Body) != "{\"s\":\"\xff" || string(recs[2].Body) != `{ "model_id": "m1", "training_status": "trained" }` {
		t.Fatalf("bodies %q %q", recs[1].Body, recs[2].Body)
	}
	if recs[0].Summary != (Summary{Kind: KindGeneration, Status: "success", ID: "1", TrackID: "t1"}) || recs[2].Summary.Kind != KindTraining {
		t.Fatalf("summaries %+v %+v", recs[0].Summary, recs[2].Summary)
	}

	// A recorded PUT is sent as the POST replay says it sends (Request has
	// no method: Send always POSTs).
	req, dropped := recs[0].Request("http://app.example/hooks", false)
	if req.URL != "http://app.example/hooks" || req.Header.Get("Content-Type") != "text/json" || req.Header.Get("X-Custom") != "a, b" || string(req.Body) != `{"id":1,"track_id":"t1","status":"success"}` || dropped != nil {
		t.Fatalf("request %+v, dropped %q", req, dropped)
	}

	if got := Filter(recs, nil, nil); len(got) != 3 {
		t.Fatalf("no filter: %d", len(got))
	}
	if got := Filter(recs, []string{"m1", "nope"}, nil); len(got) != 1 || got[0].LineNo != 6 {
		t.Fatalf("--id: %+v", got)
	}
	if got := Filter(recs, []string{"1"}, []string{"t2"}); len(got) != 0 {
		t.Fatalf("--id and --track-id: %+v", got)
	}
}

// TestRecordRequestDropsCredentials: a recorded delivery is replayed
// without the credentials it carried unless asked; the rest of its headers
// and its body go as they were, always as a POST.
func TestRecordRequestDropsCredentials(t *testing.T) {
	rec := Record{Line: Line{Method: "DELETE", Headers: map[string]string{
		"Authorization": "Bearer s3cret", "Cookie": "session=abc", "Proxy-Authorization": "Basic eA==",
		"X-Api-Key": "k", "key": "k2", "X-Auth-Token": "t", "Content-Type": "application/json", "User-Agent": "ModelsLab",
	}}, Body: []byte(`{"id":1}`)}
	req, dropped := rec.Request("http://app.example/hooks", false)
	want := []string{"Authorization", "Cookie", "Key", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token"}
	if !slices.Equal(dropped, want) {
		t.Fatalf("dropped %q, want %q", dropped, want)
	}
	if len(req.Header) != 2 || req.Header.Get("Content-Type") != "application/json" || req.Header.Get("User-Agent") != "ModelsLab" || string(req.Body) != `{"id":1}` {
		t.Fatalf("request %+v", req)
	}
	req, dropped = rec.Request("http://app.example/hooks", true)
	if dropped != nil || req.Header.Get("Authorization") != "Bearer s3cret" || req.Header.Get("Cookie") != "session=abc" || len(req.Header) != 8 {
		t.Fatalf("--keep-credentials: %+v, dropped %q", req.Header, dropped)
	}
	for _, name := range []string{"Content-Type", "User-Agent", "X-Forwarded-For", "Accept", "X-Request-Id"} {
		if CredentialHeader(name) {
			t.Errorf("%s taken for a credential", name)
		}
	}
}
