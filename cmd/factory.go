package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/models"
	"github.com/mlabcli/mlab/internal/output"
)

// Factory carries what commands share: the IO streams, the build, the
// environment and the lazily resolved configuration.
type Factory struct {
	IO     *output.IOStreams
	Build  BuildInfo
	Getenv func(string) string

	apiKeyFlag string
	debug      bool
	jsonErrors bool // the running command was asked for --json (set in root's PersistentPreRun only)
	started    bool // a command's own code began (cobra accepted the command line)

	seams *testSeams // tests only (cmd/receiver.go); nil in normal use

	cfgOnce sync.Once
	cfg     *config.Config
	cfgErr  error

	secretsMu sync.Mutex
	secrets   []string

	routerOnce sync.Once
	router     *models.Router // the model table (models.go)
}

// MinKeyLength is the shortest API key mlab accepts.
const MinKeyLength = 8

func keySourceName(src string) string {
	switch src {
	case "flag":
		return "--api-key"
	case "env":
		return "MODELSLAB_API_KEY"
	}
	return "the config file"
}

// NewFactory returns a Factory for one process.
func NewFactory(ios *output.IOStreams, bi BuildInfo, getenv func(string) string) *Factory {
	return &Factory{IO: ios, Build: bi, Getenv: getenv}
}

// Config resolves the configuration once (flag > env > file > default).
func (f *Factory) Config() (*config.Config, error) {
	f.cfgOnce.Do(func() {
		f.cfg, f.cfgErr = config.Resolve(f.apiKeyFlag, f.Getenv)
		if f.cfgErr != nil {
			hint := "set " + config.EnvConfigDir + " to a writable directory"
			if dir, err := config.Dir(f.Getenv); err == nil {
				if b, err := os.ReadFile(filepath.Join(dir, config.FileName)); err == nil && !json.Valid(b) {
					hint = "fix the JSON of " + filepath.Join(dir, config.FileName) + " or delete it and run 'mlab config set api_key'; --sandbox needs no config"
				}
			}
			f.cfgErr = &ConfigError{Msg: f.cfgErr.Error(), Hint: hint}
			return
		}
		if k := f.cfg.APIKey; k != "" && len(k) < MinKeyLength {
			// A key this short is a typo or a placeholder, and redacting it
			// would blank out ordinary words of every message.
			f.cfgErr = &ConfigError{
				Msg:  fmt.Sprintf("the API key (from %s) is only %d characters: that is not a ModelsLab key", keySourceName(f.cfg.APIKeySource), len(k)),
				Hint: "copy the whole key from your ModelsLab dashboard into MODELSLAB_API_KEY, --api-key or 'mlab config set api_key'",
			}
			f.cfg = nil
			return
		}
		f.addSecret(f.cfg.APIKey)
		f.addSecret(f.cfg.NgrokAuthtoken)
	})
	return f.cfg, f.cfgErr
}

func (f *Factory) addSecret(s string) {
	if len(s) < 4 {
		return
	}
	f.secretsMu.Lock()
	f.secrets = append(f.secrets, s)
	f.secretsMu.Unlock()
}

// redact removes every known secret from s.
func (f *Factory) redact(s string) string {
	f.secretsMu.Lock()
	defer f.secretsMu.Unlock()
	if f.apiKeyFlag != "" {
		s = api.Redact(s, f.apiKeyFlag)
	}
	return api.Redact(s, f.secrets...)
}

// DebugWriter returns where --debug output goes (stderr, secrets redacted),
// or nil when --debug is off.
func (f *Factory) DebugWriter() io.Writer {
	if !f.debug {
		return nil
	}
	return &redactingWriter{f: f, w: f.IO.ErrOut}
}

type redactingWriter struct {
	f  *Factory
	w  io.Writer
	mu sync.Mutex
}

func (r *redactingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.f.redact(string(p))
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
