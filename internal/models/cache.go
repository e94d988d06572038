package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// EnvCacheDir overrides the directory of the model cache.
const EnvCacheDir = "MLAB_CACHE_DIR"

// DefaultTTL is how long a cached list is fresh unless Cache.TTL says.
const DefaultTTL = 24 * time.Hour

const (
	cacheVersion      = 1
	maxCacheFileBytes = 64 << 20
)

// DefaultDir returns $MLAB_CACHE_DIR when set, else os.UserCacheDir()/mlab
// ($XDG_CACHE_HOME/mlab or ~/.cache/mlab on Linux, ~/Library/Caches/mlab on
// macOS, %LocalAppData%\mlab on Windows).
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the cache directory: %w (set %s)", err, EnvCacheDir)
	}
	return filepath.Join(d, "mlab"), nil
}

// Cache keeps the last model list of each base URL on disk, one file per
// base URL, so that the sandbox and the real API never mix.
type Cache struct {
	// Dir is the cache directory; "" means DefaultDir().
	Dir string
	// TTL is how long a list stays fresh; <= 0 means DefaultTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// List is a cached model list.
type List struct {
	Models    []Model   `json:"models"`
	FetchedAt time.Time `json:"fetched_at"`
	BaseURL   string    `json:"base_url"`
}

type cacheFile struct {
	Version int `json:"version"`
	List
}

func (c Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Cache) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTTL
}

func (c Cache) dir() (string, error) {
	if c.Dir != "" {
		return c.Dir, nil
	}
	return DefaultDir()
}

// Path returns the file that holds baseURL's list:
// <dir>/models-<first 16 hex digits of sha256(base URL)>.json. The base URL
// is normalised as the client does ("" is api.DefaultBaseURL; a trailing
// slash is ignored).
func (c Cache) Path(baseURL string) (string, error) {
	dir, err := c.dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, fileName(normBase(baseURL))), nil
}

func fileName(base string) string {
	sum := sha256.Sum256([]byte(base))
	return "models-" + hex.EncodeToString(sum[:])[:16] + ".json"
}

// Load reads baseURL's cached list, fresh or not (see [Cache.Fresh]). ok is
// false when there is none; a file that cannot be read or parsed, or that
// belongs to another base URL, also gives ok false, with a non-fatal error
// saying why (the next Save replaces the file).
func (c Cache) Load(baseURL string) (List, bool, error) {
	path, err := c.Path(baseURL)
	if err != nil {
		return List{}, false, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return List{}, false, nil
	}
	if err != nil {
		return List{}, false, fmt.Errorf("model cache: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCacheFileBytes+1))
	if err != nil {
		return List{}, false, fmt.Errorf("model cache %s: %w", path, err)
	}
	if len(data) > maxCacheFileBytes {
		return List{}, false, fmt.Errorf("model cache %s is larger than %d MiB; ignored (it is rebuilt on the next list)", path, maxCacheFileBytes>>20)
	}
	var cf cacheFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return List{}, false, fmt.Errorf("model cache %s is corrupt (it is rebuilt on the next list): %w", path, err)
	}
	if cf.Version != cacheVersion {
		return List{}, false, fmt.Errorf("model cache %s has version %d, want %d; ignored", path, cf.Version, cacheVersion)
	}
	if want := normBase(baseURL); cf.BaseURL != want {
		return List{}, false, fmt.Errorf("model cache %s belongs to another base URL; ignored", path)
	}
	cf.Models = boundModels(cf.Models)
	return cf.List, true, nil
}

// Save replaces baseURL's cached list with models (bounded as the decoders
// bound them), fetched now. The file is written to a temporary file in the
// same directory and renamed over the old one; it is mode 0600 in a
// directory created 0700.
func (c Cache) Save(baseURL string, models []Model) error {
	path, err := c.Path(baseURL)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	cf := cacheFile{Version: cacheVersion, List: List{
		Models:    boundModels(models),
		FetchedAt: c.now().UTC(),
		BaseURL:   normBase(baseURL),
	}}
	data, err := json.Marshal(cf)
	if err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".models-*.tmp")
	if err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("model cache: %w", err)
	}
	done = true
	return nil
}

// Fresh reports whether l was fetched less than TTL ago. A list stamped in
// the future (beyond a minute of clock skew) is not fresh.
func (c Cache) Fresh(l List) bool {
	if l.FetchedAt.IsZero() {
		return false
	}
	age := c.now().Sub(l.FetchedAt)
	return age > -time.Minute && age < c.ttl()
}
