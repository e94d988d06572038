package ids

import (
	"regexp"
	"testing"
)

func TestShapes(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := Token()
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(tok) || seen[tok] {
			t.Fatalf("token %q (repeated: %v)", tok, seen[tok])
		}
		seen[tok] = true
	}
	if !regexp.MustCompile(`^mlab-[0-9a-f]{16}$`).MatchString(TrackID()) {
		t.Errorf("track_id %q", TrackID())
	}
	if !regexp.MustCompile(`^b-[0-9a-f]{12}$`).MatchString(BatchID()) {
		t.Errorf("batch id %q", BatchID())
	}
}
