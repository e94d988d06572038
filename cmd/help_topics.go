package cmd

import "github.com/spf13/cobra"

// Help topics: `mlab help <topic>`. They are commands without Run, so cobra
// lists them under "Additional help topics" and shows their Long text.

const exitCodesTopic = exitCodesHelp + `

Every command follows this contract, so scripts can branch on it:

  mlab img "a cat" --wait -o out/ --json > result.json
  case $? in
    0)   echo "done: $(jq -r '.files[0]' result.json)" ;;
    1)   echo "the job failed: $(jq -r .message result.json)" ;;
    3)   echo "still running: mlab wait $(jq -r .id result.json)" ;;
    4)   echo "API or network trouble: see stderr, try mlab doctor" ;;
    *)   echo "usage or configuration error" ;;
  esac

On exit 3 and 130 the job id is on stdout (or in the JSON, with status
"processing"): the job goes on at ModelsLab and 'mlab wait <id>' picks it up.
With --json an error is also written to stderr as one JSON object:
  {"error":{"code":4,"message":"...","hint":"..."}}

mlab doctor exits 0 when everything works (warnings allowed), 2 for a
configuration problem (no key, broken config file, bad MLAB_TUNNEL) and 4
when the API rejects the key or cannot be reached, or the webhook path fails.`

const environmentTopic = `Environment variables mlab reads (a flag wins over the environment, the
environment over the config file; see 'mlab config'):

  MODELSLAB_API_KEY    API key (--api-key wins; config key api_key is the fallback)
  MODELSLAB_BASE_URL   API base URL (default https://modelslab.com), e.g. a
                       sandbox: http://127.0.0.1:8765 (config key base_url)
  NGROK_AUTHTOKEN      ngrok authtoken: enables the embedded tunnel, so webhooks
                       reach this machine (config key ngrok_authtoken)
  MLAB_TUNNEL          default for --tunnel: auto, ngrok, local, url or none
                       (config key tunnel); see 'mlab help tunnels'
  MLAB_RELAY           default for --relay: a webhook relay's Redis URL
                       (redis://[user:pass@]host:6379/0, rediss://...); job
                       commands and mlab wait receive webhooks through the
                       mlab listen --relay that holds the public URL
  MLAB_CONFIG_DIR      config directory (default: your user config directory +
                       /mlab, e.g. ~/.config/mlab; XDG_CONFIG_HOME is honoured)
  MLAB_CACHE_DIR       where the model list is cached (default: your user cache
                       directory + /mlab, e.g. ~/.cache/mlab; XDG_CACHE_HOME
                       is honoured); see 'mlab help models'
  MLAB_STATE_DIR       where the job journal lives (default $XDG_STATE_HOME/mlab,
                       else ~/.local/state/mlab; on macOS and Windows under the
                       user config directory), used by mlab jobs, wait and fetch
  XDG_CONFIG_HOME      base of the default config directory on Linux
  XDG_STATE_HOME       base of the default state directory (an absolute path)
  HOME                 base of the defaults above when the XDG variables are unset
  NO_COLOR             any non-empty value turns colour off (https://no-color.org)
  TERM                 "dumb" turns colour off
  COLUMNS              width used for progress bars when stderr's cannot be measured
  MLAB_FORCE_TTY       treat stdout and stderr as terminals (tests, recordings):
                       styled output and progress bars even when piped
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY
                       proxy for API calls and downloads (Go's standard rules);
                       the ngrok tunnel does not use them
  SOURCE_DATE_EPOCH    date stamped on pages written by 'mlab man' (reproducible
                       builds); default: the build date, else today
  MLAB_OPENER          the command --open runs with a file or URL (default: open
                       on macOS, rundll32 on Windows, else xdg-open, which needs
                       DISPLAY or WAYLAND_DISPLAY)
  CI                   set to anything but false/0 (CI services do): --open opens
                       nothing
  TERM_PROGRAM, LC_TERMINAL, KITTY_WINDOW_ID, TERM
                       which inline images --preview draws: iTerm2's (iTerm2,
                       WezTerm), kitty's (kitty, Ghostty) or sixel (foot,
                       mlterm, a TERM naming sixel); none inside TMUX or screen

Secrets (MODELSLAB_API_KEY, NGROK_AUTHTOKEN) are never printed: --debug and
error messages redact them, and 'mlab config' shows them masked.`

const tunnelsTopic = `How a result comes back: a webhook, the output links, or a fetch.

With --wait, mlab opens a webhook receiver before it submits the job, sends
its URL as the job's "webhook" (the last path segment is a secret per-job
token, at least 128 random bits), and returns at whichever comes first: the
webhook, the job's output links all answering, or a fetch. The links and the
fetches always run, because ModelsLab's webhooks are best-effort. The receiver is chosen with --tunnel (env MLAB_TUNNEL, config key
tunnel):

  auto    (default) --public-url given → url; the API on loopback (the
          sandbox) → local; an ngrok authtoken set → ngrok if the tunnel is
          up within 3s (or --tunnel-timeout, if lower), else the job is
          submitted at once without a webhook (one warning); otherwise no
          webhook, with one notice
  ngrok   the embedded ngrok tunnel (no ngrok binary needed). Needs
          NGROK_AUTHTOKEN (exit 2 without one) and exits 4 with ngrok's reason
          if the tunnel is not up within --tunnel-timeout (15s)
  local   a loopback listener (--listen, default 127.0.0.1:<random>): for an
          API that can reach this machine, such as the sandbox
  url     your own public URL (--public-url https://hooks.example.com)
          forwarding to --listen: a reverse proxy or a named tunnel; the job's
          token is appended as the last path segment
  none    no listener: poll only

The listener answers only POSTs of JSON (at most 10 MiB) to a live token;
everything else gets 404, 405, 400 or 413. A webhook is trusted for free when
its output URLs equal the future_links the submit answer gave, otherwise it is
checked by the links or by one fetch. With a working webhook, a job that
ends within its eta's window costs no fetch at all.

Without a webhook, the result still comes within a fraction of a second:
nearly every submit answers with future_links, the final URLs of the
outputs, which answer 404 until the files exist. mlab probes them (HEAD, or
a one-byte ranged GET where HEAD is refused; no API call), densely where the
eta says the job most likely ends, at most --probe-rate probes per second for
all jobs together (default 20; 0 turns it off); a 429 or 5xx from the CDN
backs them off. When every link answers, the result says "via":"links".
Fetches catch what the links cannot tell (a failure, a job without links):
placed on the eta, never more by any moment than the official ModelsLab CLI
sends (1, 3, 7, 15 s, then one per 10 s), honouring retry_after on 429.
mlab learns whether webhooks arrive (this run's jobs and the journal's
recent ones with the same tunnel): when they do not, it stops holding its
fetches back for them. --debug says which.

When webhooks do not arrive:
  - run 'mlab doctor': it opens the receiver your settings select, sends it a
    webhook through the tunnel and says what failed;
  - a firewall or proxy that blocks outbound TLS to ngrok (port 443) stops the
    tunnel: use --tunnel none (polling only) or --public-url;
  - nothing is lost: the links and the fetches finish the job either way.

Examples:
  $ NGROK_AUTHTOKEN=... mlab img "a cat" --wait            # webhook via ngrok
  $ mlab img "a cat" --wait --tunnel none                  # poll only
  $ mlab img "a cat" --wait --public-url https://hooks.example.com --listen :8080
  $ mlab doctor                                            # test the whole path`

// helpTopics returns the `mlab help <topic>` commands.
func helpTopics() []*cobra.Command {
	return []*cobra.Command{
		{Use: "exit-codes", Short: "Exit codes and how to script against them", Long: exitCodesTopic},
		{Use: "environment", Short: "Environment variables mlab reads", Long: environmentTopic},
		{Use: "models", Short: "Models, and how a job goes to the v6 or the v7 API", Long: modelsTopic},
		{Use: "tunnels", Short: "Webhooks, tunnels (ngrok, local, url, none) and polling", Long: tunnelsTopic},
	}
}
