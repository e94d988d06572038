package cmd

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/tunnel/ngrokfake"
	"github.com/spf13/cobra"
)

// TestEveryCommandHasExamples walks the whole command tree: every runnable
// command shows examples in its help. A group command (one with
// subcommands, whose own run only reports a usage error) passes when it has
// an Example or every subcommand has one.
func TestEveryCommandHasExamples(t *testing.T) {
	ios, _, _, _ := output.Test()
	root := NewRootCmd(NewFactory(ios, BuildInfo{Version: "t"}, func(string) string { return "" }))
	var hasExamples func(c *cobra.Command) bool
	hasExamples = func(c *cobra.Command) bool {
		if c.Example != "" {
			return true
		}
		if !c.HasAvailableSubCommands() {
			return false
		}
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() && s.Runnable() && !hasExamples(s) {
				return false
			}
		}
		return true
	}
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden {
			n++
			if !hasExamples(c) {
				t.Errorf("%q has no Example in its help", c.CommandPath())
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if n < 20 {
		t.Fatalf("walked only %d runnable commands", n)
	}
	for _, name := range []string{"config", "doctor", "man", "completion", "exit-codes", "environment", "tunnels"} {
		if c, _, err := root.Find([]string{name}); err != nil || c.Name() != name {
			t.Errorf("no %q command: %v", name, err)
		}
	}
}

// TestEnvironmentTopicNamesEveryVariable reads mlab's source for the
// environment variables it reads and checks `mlab help environment` names
// each one.
func TestEnvironmentTopicNamesEveryVariable(t *testing.T) {
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`[Gg]etenv\("([A-Z][A-Z0-9_]+)"\)`),
		regexp.MustCompile(`LookupEnv\("([A-Z][A-Z0-9_]+)"\)`),
		regexp.MustCompile(`\b\w*Env\w*\s*=\s*"([A-Z][A-Z0-9_]+)"`),
	}
	found := map[string]string{}
	for _, root := range []string{".", "../internal", "../main.go"} {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.Contains(path, "sandbox") || strings.Contains(path, "ngrokfake") || strings.Contains(path, "redistest") { // test support, not mlab
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, re := range patterns {
				for _, m := range re.FindAllSubmatch(b, -1) {
					found[string(m[1])] = path
				}
			}
			return nil
		})
	}
	if len(found) < 10 {
		t.Fatalf("found only %d variables in the source: %v", len(found), found)
	}
	var missing []string
	for name, path := range found {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(environmentTopic) {
			missing = append(missing, name+" (read in "+path+")")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("mlab help environment does not mention:\n  %s", strings.Join(missing, "\n  "))
	}
}

// doctorFactory returns a Factory whose environment is env plus a fresh
// config directory.
func doctorFactory(t *testing.T, env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ios, _, out, errOut := output.Test()
	if _, ok := env["MLAB_CONFIG_DIR"]; !ok {
		env["MLAB_CONFIG_DIR"] = t.TempDir()
	}
	f := NewFactory(ios, BuildInfo{Version: "t"}, func(k string) string { return env[k] })
	return f, out, errOut
}

func doctorOpts(f *Factory) *DoctorOptions {
	return &DoctorOptions{f: f, Timeout: 5 * time.Second, TunnelTimeout: 5 * time.Second}
}

func exitOf(err error) int { return exitCodeFor(err) }

// fakeAPI answers request_count like ModelsLab, with its Date header set
// skew away from the real time.
func fakeAPI(t *testing.T, skew time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != requestCountPath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		fmt.Fprint(w, `{"status":"success","processing_count":2}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDoctorWarnsOnClockSkew(t *testing.T) {
	for _, c := range []struct {
		skew time.Duration
		want string // a regexp: the Date header has a resolution of 1s
	}{
		{-5 * time.Minute, `(?m)^! clock: this machine's clock is (4m59|5m0|5m1)s ahead of the API's$`},
		{7 * time.Minute, `(?m)^! clock: this machine's clock is (6m59|7m0|7m1)s behind the API's$`},
		{30 * time.Second, `(?m)^✓ clock: within (29|30|31)s of the API's$`},
	} {
		srv := fakeAPI(t, c.skew)
		f, _, errOut := doctorFactory(t, map[string]string{"MODELSLAB_BASE_URL": srv.URL, "MODELSLAB_API_KEY": "sk-0123456789abcdefXYZ"})
		err := runDoctor(context.Background(), doctorOpts(f))
		if err != nil {
			t.Fatalf("skew %s: doctor failed (%v):\n%s", c.skew, err, errOut)
		}
		got := errOut.String()
		if !regexp.MustCompile(c.want).MatchString(got) {
			t.Errorf("skew %s: want a line matching %q in:\n%s", c.skew, c.want, got)
		}
		if !strings.Contains(got, "✓ API key: key sk-…fXYZ (from MODELSLAB_API_KEY) accepted by "+srv.URL+"; 2 job(s) processing") {
			t.Errorf("API line missing:\n%s", got)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDoctorThroughNgrok runs the ngrok and webhook checks against an
// in-process fake of ngrok's ingress: the real SDK opens the tunnel and the
// test webhook travels through the fake edge to the listener.
func TestDoctorThroughNgrok(t *testing.T) {
	fake := ngrokfake.Start(t, ngrokfake.Options{ValidToken: "2abcNGROKgood_0123456789"})
	srv := fakeAPI(t, 0)
	run := func(token string) (string, error) {
		f, _, errOut := doctorFactory(t, map[string]string{
			"MODELSLAB_BASE_URL": srv.URL, "MODELSLAB_API_KEY": "sk-0123456789abcdefXYZ", "NGROK_AUTHTOKEN": token,
		})
		o := doctorOpts(f)
		o.TunnelTimeout = 2 * time.Second
		o.tunnelOpts = func(to *receiver.TunnelOptions) {
			to.AgentConnectURL = fake.Addr()
			to.AgentConnectCAs = fake.CAPool()
		}
		o.webhookClient = &http.Client{Transport: roundTripFunc(fake.Do), Timeout: 5 * time.Second}
		err := runDoctor(context.Background(), o)
		return errOut.String(), err
	}

	got, err := run("2abcNGROKgood_0123456789")
	if err != nil {
		t.Fatalf("doctor failed (%v):\n%s", err, got)
	}
	for _, want := range []string{
		"✓ ngrok: authtoken 2ab…6789 works: tunnel https://",
		"✓ webhook: a test webhook arrived through the ngrok tunnel (https://",
		"mlab is ready to use",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}

	got, err = run("2abcNGROKbad_SECRET_0123456789")
	if code := exitOf(err); code != ExitAPI {
		t.Fatalf("bad ngrok token: exit %d (%v), want 4:\n%s", code, err, got)
	}
	if !strings.Contains(got, "✗ ngrok: the tunnel did not open") || strings.Contains(got, "SECRET") {
		t.Errorf("bad token report:\n%s", got)
	}
	if !strings.Contains(got, "✓ webhook: a test webhook arrived through a loopback listener") {
		t.Errorf("the webhook check should fall back to loopback:\n%s", got)
	}
}

func TestDoctorExitCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"status":"error","message":"Invalid Api Key"}`)
	}))
	defer srv.Close()
	cases := []struct {
		name string
		env  map[string]string
		want int
		line string
	}{
		{"bad key", map[string]string{"MODELSLAB_BASE_URL": srv.URL, "MODELSLAB_API_KEY": "sk-wrong-0123456789"}, ExitAPI, "✗ API key: key sk-…6789 (from MODELSLAB_API_KEY) rejected by " + srv.URL + ": HTTP 401: Invalid Api Key"},
		{"no key", map[string]string{"MODELSLAB_BASE_URL": srv.URL}, ExitUsage, "✗ API key: no API key"},
		{"unreachable", map[string]string{"MODELSLAB_BASE_URL": "http://127.0.0.1:1", "MODELSLAB_API_KEY": "k-0123456789"}, ExitAPI, "✗ API key: could not check the key against http://127.0.0.1:1"},
	}
	for _, c := range cases {
		f, _, errOut := doctorFactory(t, c.env)
		err := runDoctor(context.Background(), doctorOpts(f))
		if !isQuiet(err) || exitOf(err) != c.want {
			t.Errorf("%s: err %v (exit %d), want a silent exit %d", c.name, err, exitOf(err), c.want)
		}
		if !strings.Contains(errOut.String(), c.line) {
			t.Errorf("%s: want %q in:\n%s", c.name, c.line, errOut)
		}
	}
}
