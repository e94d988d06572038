// Package api is mlab's client for the ModelsLab generative HTTP API.
//
// It owns three things and nothing else (no terminal, no command line):
//
//   - the endpoint catalogue ([Catalogue], [Lookup]): a table of submit and
//     fetch paths, authentication style and required body fields, so that a
//     generic command can drive any row;
//   - tolerant decoding ([Decode], [Response]) of the bodies ModelsLab really
//     sends: integer or string ids, "message" or the "messege" typo, "output"
//     as an array, "" or null, "proxy_links" as an object, validation messages
//     as objects, "retry_after" on rate limits;
//   - the HTTP client ([Client]): [Client.Submit] retries only when the
//     server certainly did not take the job (429, 503, connection refused),
//     [Client.Fetch] retries any transient failure, and failures come back as
//     a typed [*Error] whose [Error.Hint] tells the user what to do next.
//     [Client.Call] makes any other JSON call (workflow list/show/cancel) and
//     [Client.Upload] stores a local file with base64_to_url.
//
// Rows belong to a [Family]: generation jobs (id, fetch_result, POST fetch),
// training jobs (training_id, stage words, POST fine_tune_status) and
// workflow runs (execution_id, status_url, GET runs/{id}). [DecodeFor]
// normalises the last two onto the generation shape, so one wait loop driven
// by [Response.State] serves all three.
//
// The API key is sent only to the configured base URL (or a trusted
// ModelsLab host named by a fetch_result) and never appears in errors or in
// the debug log (see [Redact]).
package api
