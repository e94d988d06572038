package journal

import (
	"path/filepath"
	"testing"
)

func TestDefaultDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		name string
		goos string
		env  func(string) string
		want string
	}{
		{"override wins", "linux", env("MLAB_STATE_DIR", "/s", "XDG_STATE_HOME", "/x", "HOME", "/h"), "/s"},
		{"xdg", "linux", env("XDG_STATE_HOME", "/x", "HOME", "/h"), filepath.Join("/x", "mlab")},
		{"relative xdg ignored", "linux", env("XDG_STATE_HOME", "x", "HOME", "/h"), filepath.Join("/h", ".local", "state", "mlab")},
		{"home", "linux", env("HOME", "/h"), filepath.Join("/h", ".local", "state", "mlab")},
		{"freebsd home", "freebsd", env("HOME", "/h"), filepath.Join("/h", ".local", "state", "mlab")},
		{"macos", "darwin", env("HOME", "/Users/u"), filepath.Join("/Users/u", "Library", "Application Support", "mlab", "state")},
		{"macos xdg", "darwin", env("HOME", "/Users/u", "XDG_STATE_HOME", "/x"), filepath.Join("/x", "mlab")},
		{"windows", "windows", env("AppData", `C:\Users\u\AppData\Roaming`), filepath.Join(`C:\Users\u\AppData\Roaming`, "mlab", "state")},
	}
	for _, c := range cases {
		got, err := defaultDir(c.env, c.goos)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if d, err := DefaultDir(env("MLAB_STATE_DIR", "/s")); err != nil || d != "/s" {
		t.Fatalf("DefaultDir = %q, %v", d, err)
	}
}
