// Package models is the engine behind model discovery: it lists and shows
// ModelsLab models ([Client]), keeps the last list on disk ([Cache]) and
// decides which API generation a model id belongs to ([Router]): ModelsLab's
// own and community models go to the v6 API, third-party "unified" models
// (seedream, kling, veo, elevenlabs…) to v7.
//
// The list and detail responses are undocumented, so the decoders
// ([DecodeList], [DecodeDetail]) accept every shape the official clients
// read, and bound what they keep. Everything decoded is untrusted data: the
// caller sanitises it for the terminal. The package never prints.
//
// The API key travels only as the "key" query parameter (and the "key"
// header); it never appears in an error.
package models
