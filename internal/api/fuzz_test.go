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
