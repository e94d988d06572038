// Package sandbox is a ModelsLab-compatible local API.
//
// It backs `mlab sandbox`, `mlab img --sandbox` (started in-process so the
// quick start works with no API key) and every test that needs a server. It
// answers with the payload shapes the real API sends (see
// testdata/payloads): processing answers with eta, fetch_result,
// future_links and meta; the minimal fetch bodies; the legacy error bodies;
// PHP-style escaped slashes ("https:\/\/...") in every API answer. Jobs run
// for Options.Delay, after which their output files are served under
// /generations/ and, when the submit carried a webhook URL, a best-effort
// webhook is POSTed. Fault knobs (failures, rate limits, dropped, delayed or
// duplicated webhooks, a wrong eta, string ids) let tests exercise every
// path of a client.
//
// For soaks the knobs also come as rates: a share of the webhooks dropped,
// duplicated or sent late (after a poller would have seen the result), a
// share of fetches failing with 5xx, bursts of 429s, a queue limit, and
// job durations spread between Delay and DelayMax, and an eta off by up
// to a share of the true duration. The random choices
// come from Options.Seed, so a run can be replayed; Stats counts what the
// knobs did. Jobs need no goroutine while they run (their state follows
// from the clock) and a pending webhook is a timer, so thousands of jobs
// are cheap.
//
// The output files sit behind a CDN of sorts that clients may probe to
// learn a job is done without an API call: a HEAD, or a GET of a bounded
// byte range ("bytes=0-0"), answers 404 until the file exists. Its knobs:
// HeadStatus refuses every HEAD (403, or 405 with "Allow: GET") so that
// clients fall back to ranged GETs; ProbeRateLimit answers the probes
// over a rate per rolling second 429 with "Retry-After: 1"; ProbeErrorRate
// answers a seeded share of them 503. Downloads (plain GETs) are never
// refused. Stats counts the probes (ready, rate limited, failed) and the
// most that arrived within any one second, so that a benchmark can show a
// client kept to its probe budget; JobTimes gives each job's submit time,
// end and reported eta, to measure how late a client noticed.
//
// Beyond generation jobs it has: v3 training (lora_fine_tune, fine_tune,
// fine_tune_status, finetune_list), walking the eight training stages
// evenly over Options.Delay with a training webhook at every stage; the v1
// Workflows API (key in the "key" header) with two built-in workflows
// (list, schema, run, status, cancel; one webhook per execution in the
// flat or nested documented shape); base64_to_url uploads kept in memory
// and served under /uploads/. Video outputs are a real tiny MP4 (GIF with
// output_type "gif"), voice outputs WAV (MP3 with output_format "mp3"),
// 3D outputs GLB/OBJ/STL/PLY.
//
// Besides the API, the server answers GET /_sandbox/health,
// GET /_sandbox/requests (every API request received, keys redacted) and
// GET /_sandbox/stats for test scripts.
//
// The package uses only the standard library and must not be imported by
// non-sandbox code paths of mlab.
package sandbox
