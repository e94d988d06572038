package api

import (
	"path/filepath"
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, file := range payloadFiles(f) {
		f.Add(readPayload(f, filepath.Base(file)))
	}
	f.Add([]byte(`{"id":9007199254740993,"output":"","proxy_links":{"0":"u"},"message":{"a":["b"]}}`))
	f.Add([]byte(`{"retry_after":"1e400","eta":"-3"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Decode(body)
		if err != nil {
			return
		}
		if r.State() != stateOf(r.Status) {
			t.Fatalf("State %v inconsistent with Status %q", r.State(), r.Status)
		}
		want := map[string]State{"success": StateSuccess, "processing": StateProcessing, "error": StateFailed, "failed": StateFailed}
		if s, ok := want[r.Status]; ok && r.State() != s {
			t.Fatalf("Status %q gave %v", r.Status, r.State())
		}
		if _, ok := want[r.Status]; !ok && r.State() != StateUnknown {
			t.Fatalf("Status %q gave %v, want unknown", r.Status, r.State())
		}
		if r.Output == nil || r.FutureLinks == nil || r.ProxyLinks == nil {
			t.Fatal("nil slice")
		}
		if r.ETA < 0 || r.RetryAfter < 0 || r.RetryAfter > maxRetryAfter || r.GenerationTime < 0 {
			t.Fatalf("out of range: eta=%v retry=%v gen=%v", r.ETA, r.RetryAfter, r.GenerationTime)
		}
		again, err := Decode(r.Raw)
		if err != nil {
			t.Fatalf("re-decoding Raw: %v", err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("re-decode differs:\n%+v\n%+v", r, again)
		}
	})
}

func FuzzDecodeFor(f *testing.F) {
	for _, file := range payloadFiles(f) {
		f.Add(uint8(1), readPayload(f, filepath.Base(file)))
		f.Add(uint8(2), readPayload(f, filepath.Base(file)))
	}
	f.Add(uint8(1), []byte(`{"status":"error","messege":"training_failed","data":"... CUDA out of memory"}`))
	f.Add(uint8(2), []byte(`{"execution":{"id":1,"status":"completed","output_data":{"a":[{"b":"https://x/1"}],"proxy_links":["https://p/1"]}},"output":"https://x/1"}`))
	f.Add(uint8(2), []byte(`{"status":"completed","output":[[[["https://x"]]]],"error":{"a":{"b":"c"}}}`))
	f.Fuzz(func(t *testing.T, family uint8, body []byte) {
		ep := Endpoint{Name: "fuzz", Family: Family(family % 3)}
		r, err := DecodeFor(ep, body)
		plain, plainErr := Decode(body)
		if (err == nil) != (plainErr == nil) {
			t.Fatalf("DecodeFor err %v, Decode err %v", err, plainErr)
		}
		if err != nil {
			return
		}
		if r.Output == nil || r.FutureLinks == nil || r.ProxyLinks == nil {
			t.Fatal("nil slice")
		}
		if r.State() != stateOf(r.Status) {
			t.Fatalf("State %v inconsistent with Status %q", r.State(), r.Status)
		}
		switch ep.Family {
		case FamilyGeneration:
			if !reflect.DeepEqual(r, plain) {
				t.Fatalf("generation differs from Decode:\n%+v\n%+v", r, plain)
			}
		case FamilyTraining:
			if r.Status != "success" && r.Status != "processing" && r.Status != "failed" {
				t.Fatalf("training Status %q", r.Status)
			}
			if r.Status == "success" && r.Stage != "model_ready" {
				t.Fatalf("Status %q with Stage %q", r.Status, r.Stage)
			}
		case FamilyWorkflow:
			if r.Status != "success" && r.Status != "processing" && r.Status != "failed" && r.Status != "" {
				t.Fatalf("workflow Status %q", r.Status)
			}
			for _, list := range [][]string{r.Output, r.ProxyLinks, r.FutureLinks} {
				seen := map[string]bool{}
				for _, u := range list {
					if !isHTTPURL(u) || seen[u] {
						t.Fatalf("bad or duplicate URL %q in %q", u, list)
					}
					seen[u] = true
				}
			}
		}
		again, err := DecodeFor(ep, r.Raw)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("re-decode differs (%v):\n%+v\n%+v", err, r, again)
		}
	})
}
