// Package tunnel gives mlab a place to receive webhooks: a net.Listener to
// serve the webhook handler on, and the public base URL that ModelsLab should
// POST to.
//
// [Open] resolves a [Mode]:
//
//   - [ModeNgrok] starts an embedded ngrok agent (golang.ngrok.com/ngrok/v2)
//     and listens on a public HTTPS endpoint. The connect step is always
//     bounded ([Options.ConnectTimeout]) because the SDK retries failed
//     authentication forever, and the session is shut down with
//     agent.Disconnect, never with a listener Close that can block on a dead
//     link for about 25 s.
//   - [ModeLocal] listens on a loopback address and advertises it as is
//     (useful with a local sandbox and in tests).
//   - [ModeURL] listens locally and advertises a public URL the user runs
//     themselves (a reverse proxy, their own ngrok binary, a VPS).
//   - [ModeNone] opens nothing: the job is polled.
//   - [ModeAuto] picks url when a public URL is configured, ngrok when an
//     authtoken is configured, and none otherwise. A tunnel that fails in auto
//     mode is not an error: Open returns a none endpoint with a notice and the
//     job falls back to polling.
//
// The package does no HTTP handling; the webhook handler lives in
// internal/listener. [WaitReady] probes a freshly opened public URL, because
// ngrok endpoints answer 404 for a while after they are created.
//
// Tests run offline: the ngrok path is exercised against an in-process fake
// of ngrok's agent ingress (package ngrokfake) through
// [Options.AgentConnectURL] and [Options.AgentConnectCAs].
package tunnel
