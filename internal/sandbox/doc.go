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
// v6 also has speech_to_text (fetched on /api/v6/whisper/fetch/{id}, a
// .txt transcript), sfx, voice_cover, lyrics_generator (a .txt of
// lyrics), create_dubbing (MP4), video/watermark_remover, the four
// deepfake (alias faceswap) swaps and the seven interior operations; a
// missing required field (v6Required) is a 400 {"status":"error",
// "message":"<field> is required"}, like a missing prompt.
//
// The v7 "unified" API (v7.go) has its own paths: images/{text-to-image,
// image-to-image,inpaint}, video-fusion/{text-to-video,image-to-video,
// video-to-video,lip-sync,motion-control} and voice/{text-to-speech,
// speech-to-text,speech-to-speech,sound-generation,music-gen,
// create-dubbing,song-extender,song-inpaint}, fetched on
// /api/v7/<family>/fetch/{id} and nowhere else (a v7 job is unknown to
// other families and to v6); any other /api/v7/ path is a 404. The key
// may come in the body or the "key" header. v7 ids are always JSON
// strings. A processing answer is lean: status, id, eta, message,
// future_links, output, meta, and no fetch_result, so clients must derive
// the fetch URL from the family; the models of v7NoFutureLinks (sora-2,
// veo-3.1-fast, lipsync-2, scribe_v1) send no future_links either. A
// finished job fetches as status, generationTime, id, output, meta. A
// submit v7 refuses is answered HTTP 200 with status "error" and no id
// (no job, no webhook): a missing or invalid field gives Laravel's
// object message ({"init_image":["The init image field is required."]};
// model_id is required everywhere; v7Ops lists the rest), and model_id
// "provider-error", or Options.V7SubmitError for every submit, gives
// {"status":"error","code":"provider_error","message":"The provider
// refused the request."}. v7 field checks follow the real bodies:
// sound-generation's duration is "time in seconds" (1-22),
// song-extender's extend_duration a string ("45.0", up to 85) and side
// right or left, motion-control's character_orientation image or video
// and mode std or pro. v7 outputs: images PNG, video-fusion MP4, voice
// MP3 (WAV with output_format "wav"), speech-to-text a .txt transcript,
// create-dubbing MP4 when given init_video. Webhooks are v6's, with the
// string id.
//
// Model discovery takes the key as the query parameter "key" (a wrong or
// missing one is a 401 {"data":null,"error":{"code":"unauthenticated",
// ...}}): GET /api/v7/models lists the catalogue (models.go) as
// {"data":{"items":[…]},"error":null,"meta":{"request_id","total"}},
// GET /api/v6/model-search as {"data":[…],…} in pages (per_page, default
// 20, and page), both filtered by search (model_id, model_name,
// description), feature, provider and model_type; GET
// /api/v6/model-search/{model_id} gives one model with its
// endpoint_configurations (the JSON Schema of its parameters), or a 404
// not_found. Stats.ModelLists counts the list calls, so a test can tell a
// client cached them.
//
// Besides the API, the server answers GET /_sandbox/health,
// GET /_sandbox/requests (every API request received, keys redacted) and
// GET /_sandbox/stats for test scripts.
//
// The package uses only the standard library and must not be imported by
// non-sandbox code paths of mlab.
package sandbox
