package models

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func TestRouteSeed(t *testing.T) {
	r := NewRouter(nil)
	for _, c := range []struct{ id, api string }{
		{"seedream-4", APIv7}, {"Kling-V2-5-Turbo-i2v", APIv7}, {"kling-v2-5-turbo-t2v", APIv7},
		{"eleven_multilingual_v2", APIv7}, {"veo-3.1-fast", APIv7}, {"flux-2-pro", APIv7},
		{"flux", APIv6}, {"flux-pro-1.1", APIv6}, {"wan2.2", APIv6}, {"svd", APIv6}, {"sdxl", APIv6},
	} {
		api, src, known := r.Route(c.id)
		if api != c.api || src != SourceSeed || !known {
			t.Errorf("Route(%q) = %q, %q, %v; want %q from the built-in table", c.id, api, src, known, c.api)
		}
	}
}

func TestRouteCaseInsensitive(t *testing.T) {
	r := NewRouter(nil)
	for _, id := range []string{"kling-v2-5-turbo-i2v", "HAILUO-2.3-I2V", " seedream-4 ", "Sora-2"} {
		if api, src, known := r.Route(id); api != APIv7 || src != SourceSeed || !known {
			t.Errorf("Route(%q) = %q, %q, %v", id, api, src, known)
		}
	}
	if api, _, known := r.Route("FLUX"); api != APIv6 || !known {
		t.Errorf("FLUX → %q %v", api, known)
	}
}

func TestRouteCacheOverridesSeed(t *testing.T) {
	r := NewRouter([]Model{
		{ID: "flux-pro-1.1", API: APIv7},  // the server now says v7
		{ID: "seedream-4"},                // names no API: the seed stands
		{ID: "brand-new-t2v", API: APIv7}, // only the list knows it
		{ID: "My-Model", API: APIv7},      // matched case-insensitively
		{ID: "sdxl", API: "v9"},           // not an API we route: ignored
		{ID: "FLUX", API: APIv7},          // exact "flux" in the seed wins over a case-insensitive list hit
	})
	for _, c := range []struct{ id, api, src string }{
		{"flux-pro-1.1", APIv7, SourceCache},
		{"seedream-4", APIv7, SourceSeed},
		{"brand-new-t2v", APIv7, SourceCache},
		{"my-model", APIv7, SourceCache},
		{"sdxl", APIv6, SourceSeed},
		{"flux", APIv6, SourceSeed},
		{"FLUX", APIv7, SourceCache},
	} {
		api, src, known := r.Route(c.id)
		if api != c.api || src != c.src || !known {
			t.Errorf("Route(%q) = %q, %q, %v; want %q, %q", c.id, api, src, known, c.api, c.src)
		}
	}
}

func TestRouteUnknown(t *testing.T) {
	r := NewRouter([]Model{{ID: "listed-without-api"}})
	for _, id := range []string{"tamarin-xl-v1", "F5jvdzGnYi", "listed-without-api"} {
		if api, src, known := r.Route(id); api != APIv6 || src != SourceDefault || known {
			t.Errorf("Route(%q) = %q, %q, %v; want the v6 default, unknown", id, api, src, known)
		}
	}
	if api, src, known := r.Route("  "); api != "" || src != "" || known {
		t.Errorf("blank id = %q %q %v", api, src, known)
	}
	if api, _, known := r.Route("h3-minimax-video"); api != APIv6 || !known {
		t.Errorf("family prefix: %q %v", api, known)
	}
}

func TestLookup(t *testing.T) {
	r := NewRouter([]Model{{ID: "seedream-4", Name: "Seedream 4.0", Description: "d"}, {ID: "x", API: APIv7}})
	m, ok := r.Lookup("SEEDREAM-4")
	if !ok || m.ID != "seedream-4" || m.Name != "Seedream 4.0" || m.API != APIv7 || m.Provider != "byteplus" ||
		m.Endpoint != "/api/v7/images/text-to-image" || m.Feature != "imagen" {
		t.Errorf("Lookup = %+v", m)
	}
	if m, ok := r.Lookup("x"); !ok || m.API != APIv7 {
		t.Errorf("Lookup(x) = %+v %v", m, ok)
	}
	if m, ok := r.Lookup("wan2.2"); !ok || m.Endpoint != "/api/v6/video/text2video" || m.Feature != "video_fusion" {
		t.Errorf("Lookup(wan2.2) = %+v", m)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
}

func TestNamesAndKnown(t *testing.T) {
	r := NewRouter([]Model{{ID: "zzz"}, {ID: "flux"}, {ID: "aaa", API: APIv7}})
	names := r.Names()
	if !sort.StringsAreSorted(names) {
		t.Error("Names not sorted")
	}
	if len(names) != len(seed)+2 {
		t.Errorf("%d names, want %d (seed + 2 new)", len(names), len(seed)+2)
	}
	known := Known()
	if len(known) != len(seed) {
		t.Fatalf("Known: %d", len(known))
	}
	for _, m := range known {
		if m.API != APIv6 && m.API != APIv7 || m.Endpoint == "" || m.Provider == "" || m.Feature == "" {
			t.Errorf("Known row %+v", m)
		}
	}
	s := Seed()
	s[0].Paths[0] = "changed"
	if seed[0].Paths[0] == "changed" {
		t.Error("Seed returns the table itself")
	}
}

func TestSeedTable(t *testing.T) {
	exact := map[string]bool{}
	fold := map[string]string{}
	for _, s := range seed {
		if exact[s.ID] {
			t.Errorf("%q twice", s.ID)
		}
		exact[s.ID] = true
		if other, ok := fold[strings.ToLower(s.ID)]; ok {
			t.Errorf("%q and %q differ only in case", s.ID, other)
		}
		fold[strings.ToLower(s.ID)] = s.ID
		if s.API != APIv6 && s.API != APIv7 || len(s.Paths) == 0 || s.Provider == "" {
			t.Errorf("row %+v", s)
		}
	}
	// Every id the brief names is in the table, with the right API.
	v7 := strings.Fields(`flux-2-pro seedream-t2i seedream-4 seedream-4.5 imagen-3 imagen-4 imagen-4.0-fast-generate
		imagen-4.0-ultra nano-banana-t2i nano-banana-pro gen4_image flux-kontext-pro seededit-i2i seedream-4.0-i2i
		seedream-4.5-i2i nano-banana gen4_image_turbo Hailuo-2.3-t2v Hailuo-02-t2v kling-v2-5-turbo-t2v
		kling-v2-master-t2v kling-v2-1-master-t2v seedance-t2v seedance-1.0-pro-fast-t2v sora-2 wan2.5-t2v
		Hailuo-2.3-i2v Hailuo-2.3-Fast-i2v Hailuo-02-i2v Hailuo-02-start-end-frame kling-v2-1-i2v Kling-V2-5-Turbo-i2v
		kling-v2-master-i2v kling-v2-1-master-i2v seedance-i2v seedance-1.0-pro-i2v seedance-1.0-pro-fast-i2v
		omni-human omni-human-1.5 wan2.5-i2v wan2.6-i2v-flash kling-v1-6 gen4_aleph gen4_turbo veo2 veo-3.1-fast
		lipsync-2 kling-motion-control eleven_multilingual_v2 inworld-tts-1 scribe_v1 eleven_english_sts_v2
		eleven_sound_effect music_v1 sonauto_song song-extender song-inpaint`)
	v6 := strings.Fields(`flux sdxl midjourney realistic-vision-v6 z-image-turbo flux-2-dev flux-pro-1.1
		flux-pro-1.1-ultra flux-pro-1752000026 wan2.2 ltx-2.3 svd`)
	r := NewRouter(nil)
	for _, list := range []struct {
		api string
		ids []string
	}{{APIv7, v7}, {APIv6, v6}} {
		for _, id := range list.ids {
			if api, src, _ := r.Route(id); api != list.api || src != SourceSeed {
				t.Errorf("%q: %q from %q, want %q from the table", id, api, src, list.api)
			}
		}
	}
}

// TestSeedCoversNotes checks that every model_id quoted in the team's v7
// notes is in the table (skipped when the notes are not next to the repo).
func TestSeedCoversNotes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "modelslab-v7.md"))
	if err != nil {
		t.Skip("notes not found:", err)
	}
	r := NewRouter(nil)
	for _, m := range regexp.MustCompile(`"model_id": ?"([^"]+)"`).FindAllStringSubmatch(string(data), -1) {
		if _, src, _ := r.Route(m[1]); src != SourceSeed {
			t.Errorf("model_id %q from the notes is not in the table", m[1])
		}
	}
}
