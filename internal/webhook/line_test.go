package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
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

	req := recs[0].Request("http://app.example/hooks")
	if req.Method != "PUT" || req.URL != "http://app.example/hooks" || req.Header.Get("Content-Type") != "text/json" || req.Header.Get("X-Custom") != "a, b" || string(req.Body) != `{"id":1,"track_id":"t1","status":"success"}` {
		t.Fatalf("request %+v", req)
	}
	if m := recs[1].Request("http://x").Method; m != http.MethodPost {
		t.Fatalf("method of a line without one: %q", m)
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
