// Package config resolves mlab's settings: flag > environment > config file >
// default. The config file is JSON at $MLAB_CONFIG_DIR/config.json (default
// os.UserConfigDir()/mlab), written with mode 0600 because it holds keys.
package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables mlab reads.
const (
	EnvAPIKey     = "MODELSLAB_API_KEY"
	EnvBaseURL    = "MODELSLAB_BASE_URL"
	EnvConfigDir  = "MLAB_CONFIG_DIR"
	EnvNgrokToken = "NGROK_AUTHTOKEN"
	EnvTunnel     = "MLAB_TUNNEL"
)

// DefaultBaseURL is the real ModelsLab API.
const DefaultBaseURL = "https://modelslab.com"

// FileName is the config file's name inside the config directory.
const FileName = "config.json"

// File is what the config file holds. Unknown keys are kept on rewrite.
type File struct {
	APIKey         string `json:"api_key,omitempty"`
	BaseURL        string `json:"base_url,omitempty"`
	NgrokAuthtoken string `json:"ngrok_authtoken,omitempty"`
	Tunnel         string `json:"tunnel,omitempty"`

	extra map[string]json.RawMessage // unknown keys, kept on rewrite
}

// Config is the resolved configuration of one run.
type Config struct {
	APIKey         string
	APIKeySource   string // "flag", "env", "file" or "" when there is none
	BaseURL        string
	NgrokAuthtoken string
	Tunnel         string // "" when unset everywhere (auto)
	Dir            string // the config directory
}

// Dir returns the config directory: $MLAB_CONFIG_DIR, else
// os.UserConfigDir()/mlab.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv(EnvConfigDir); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w (set %s)", err, EnvConfigDir)
	}
	return filepath.Join(d, "mlab"), nil
}

// Load reads the config file in dir. A missing file is an empty File.
func Load(dir string) (*File, error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read config %s: %w (fix or delete the file)", path, err)
	}
	return &f, nil
}

// Save writes f to dir atomically with mode 0600 (the directory 0700).
func Save(dir string, f *File) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, FileName)); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Resolve applies the precedence flag > environment > file > default.
// flagKey is the --api-key value ("" when not given).
func Resolve(flagKey string, getenv func(string) string) (*Config, error) {
	dir, err := Dir(getenv)
	if err != nil {
		return nil, err
	}
	f, err := Load(dir)
	if err != nil {
		return nil, err
	}
	c := &Config{Dir: dir}
	switch {
	case flagKey != "":
		c.APIKey, c.APIKeySource = flagKey, "flag"
	case getenv(EnvAPIKey) != "":
		c.APIKey, c.APIKeySource = getenv(EnvAPIKey), "env"
	case f.APIKey != "":
		c.APIKey, c.APIKeySource = f.APIKey, "file"
	}
	c.APIKey = strings.TrimSpace(c.APIKey)
	c.BaseURL = cmp.Or(getenv(EnvBaseURL), f.BaseURL, DefaultBaseURL)
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.NgrokAuthtoken = strings.TrimSpace(cmp.Or(getenv(EnvNgrokToken), f.NgrokAuthtoken))
	c.Tunnel = cmp.Or(getenv(EnvTunnel), f.Tunnel)
	return c, nil
}
