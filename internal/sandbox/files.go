package sandbox

import (
	"bytes"
	_ "embed" // the MP4 and MP3 outputs
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"math"
	"strings"
)

// fileKind is the type of file a job produces. text tells two text
// files with the same extension apart (a transcript, lyrics).
type fileKind struct {
	ext         string
	contentType string
	text        string
}

var (
	kindPNG    = fileKind{ext: "png", contentType: "image/png"}
	kindGIF    = fileKind{ext: "gif", contentType: "image/gif"}
	kindMP4    = fileKind{ext: "mp4", contentType: "video/mp4"}
	kindWAV    = fileKind{ext: "wav", contentType: "audio/wav"}
	kindMP3    = fileKind{ext: "mp3", contentType: "audio/mpeg"}
	kindTXT    = fileKind{ext: "txt", contentType: "text/plain; charset=utf-8", text: "transcript"}
	kindLyrics = fileKind{ext: "txt", contentType: "text/plain; charset=utf-8", text: "lyrics"}
	kindGLB    = fileKind{ext: "glb", contentType: "model/gltf-binary"}
	kindOBJ    = fileKind{ext: "obj", contentType: "model/obj"}
	kindSTL    = fileKind{ext: "stl", contentType: "model/stl"}
	kindPLY    = fileKind{ext: "ply", contentType: "application/x-ply"}
)

// sandboxMP4 is a real 16x16, 1 s, 8 fps H.264 MP4 (ffmpeg testsrc, made
// once with ffmpeg -f lavfi -i testsrc=size=16x16:rate=8:duration=1
// -c:v libx264 -pix_fmt yuv420p -crf 40 -movflags +faststart -an). Every
// video job serves the same file.
//
//go:embed media/sandbox.mp4
var sandboxMP4 []byte

// sandboxMP3 is a real half second 440 Hz sine, 8 kHz mono MPEG audio
// (ffmpeg -f lavfi -i sine=frequency=440:sample_rate=8000:duration=0.5
// -c:a libmp3lame -b:a 8k -id3v2_version 0 -write_xing 0), served for
// voice jobs asking output_format "mp3".
//
//go:embed media/sandbox.mp3
var sandboxMP3 []byte

// kindFor picks the output file type of a v3-v6 job from its service,
// operation and request body (kindForV7 does v7's).
func kindFor(service, op string, body map[string]any) fileKind {
	switch service {
	case "video", "video-fusion":
		if strings.EqualFold(strings.TrimSpace(str(body["output_type"])), "gif") {
			return kindGIF
		}
		return kindMP4
	case "whisper":
		return kindTXT
	case "deepfake", "faceswap":
		if op == "single_video_swap" || op == "specific_video_swap" {
			return kindMP4
		}
		return kindPNG
	case "voice":
		switch op {
		case "speech_to_text", "speech-to-text":
			return kindTXT
		case "lyrics_generator":
			return kindLyrics
		case "create_dubbing":
			return kindMP4
		}
		if strings.EqualFold(strings.TrimSpace(str(body["output_format"])), "mp3") {
			return kindMP3
		}
		return kindWAV
	case "3d":
		switch strings.ToLower(str(body["output_format"])) {
		case "obj":
			return kindOBJ
		case "stl":
			return kindSTL
		case "ply":
			return kindPLY
		}
		return kindGLB
	}
	return kindPNG
}

// render produces output file n of job id. Files differ by id and n.
func render(k fileKind, id int64, n int) ([]byte, error) {
	switch k {
	case kindPNG:
		return renderPNG(id, n)
	case kindGIF:
		return renderGIF(id, n)
	case kindMP4:
		return bytes.Clone(sandboxMP4), nil
	case kindWAV:
		return renderWAV(id, n), nil
	case kindMP3:
		return bytes.Clone(sandboxMP3), nil
	case kindTXT:
		return []byte(transcript(id, n)), nil
	case kindLyrics:
		return []byte(lyrics(id, n)), nil
	case kindGLB:
		return renderGLB(), nil
	case kindOBJ:
		return []byte("# mlab sandbox\no sandbox\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"), nil
	case kindSTL:
		return []byte("solid sandbox\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 0\n   vertex 1 0 0\n   vertex 0 1 0\n  endloop\n endfacet\nendsolid sandbox\n"), nil
	case kindPLY:
		return []byte("ply\nformat ascii 1.0\ncomment mlab sandbox\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"), nil
	}
	return nil, fmt.Errorf("sandbox: no renderer for %q", k.ext)
}

// transcript is the text of output n of speech-to-text job id: plain
// UTF-8, one line, different for every job.
func transcript(id int64, n int) string {
	part := ""
	if n > 0 {
		part = fmt.Sprintf(" (part %d)", n+1)
	}
	return fmt.Sprintf("Sandbox transcript of job %d%s: the quick brown fox jumps over the lazy dog.\n", id, part)
}

// lyrics is the text of output n of lyrics job id: a verse and a chorus,
// plain UTF-8, naming the job.
func lyrics(id int64, n int) string {
	part := ""
	if n > 0 {
		part = fmt.Sprintf(" (take %d)", n+1)
	}
	return fmt.Sprintf("[Verse]\nSandbox lyrics of job %d%s,\nno network, no key, no cloud,\n"+
		"a future link that answers 404\nuntil the job is done.\n\n"+
		"[Chorus]\nPoll me once, poll me twice,\nthe webhook comes when it's done.\n", id, part)
}

// seedColor derives a base colour from the job id and sample number.
func seedColor(id int64, n int) (uint8, uint8, uint8) {
	h := uint64(id)*0x9E3779B97F4A7C15 + uint64(n+1)*0xBF58476D1CE4E5B9
	h ^= h >> 31
	return uint8(h), uint8(h >> 8), uint8(h >> 16)
}

func renderPNG(id int64, n int) ([]byte, error) {
	const size = 64
	r0, g0, b0 := seedColor(id, n)
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			img.SetNRGBA(x, y, color.NRGBA{
				R: r0 + uint8(x*4),
				G: g0 + uint8(y*4),
				B: b0 + uint8((x+y)*2),
				A: 0xff,
			})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func renderGIF(id int64, n int) ([]byte, error) {
	const size, frames = 32, 4
	r0, g0, b0 := seedColor(id, n)
	anim := &gif.GIF{}
	for f := range frames {
		img := image.NewPaletted(image.Rect(0, 0, size, size), palette.Plan9)
		for y := range size {
			for x := range size {
				img.Set(x, y, color.RGBA{r0 + uint8(x*8+f*32), g0 + uint8(y*8), b0 + uint8(f*48), 0xff})
			}
		}
		anim.Image = append(anim.Image, img)
		anim.Delay = append(anim.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, anim); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// renderWAV synthesises a quarter second of 8 kHz, 16-bit mono sine wave.
func renderWAV(id int64, n int) []byte {
	const rate, samples = 8000, 2000
	freq := 220 + float64(id%200) + 110*float64(n)
	data := make([]byte, samples*2)
	for i := range samples {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/rate))
		binary.LittleEndian.PutUint16(data[i*2:], uint16(v))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{
		uint32(16),       // fmt chunk size
		uint16(1),        // PCM
		uint16(1),        // mono
		uint32(rate),     // sample rate
		uint32(rate * 2), // byte rate
		uint16(2),        // block align
		uint16(16),       // bits per sample
	} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// renderGLB builds a minimal valid binary glTF 2.0 file holding one triangle.
func renderGLB() []byte {
	var bin bytes.Buffer
	for _, v := range []float32{0, 0, 0, 1, 0, 0, 0, 1, 0} {
		_ = binary.Write(&bin, binary.LittleEndian, v)
	}
	js := []byte(`{"asset":{"version":"2.0","generator":"mlab sandbox"},"scene":0,"scenes":[{"nodes":[0]}],"nodes":[{"mesh":0}],` +
		`"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],` +
		`"accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","max":[1,1,0],"min":[0,0,0]}],` +
		`"bufferViews":[{"buffer":0,"byteLength":36}],"buffers":[{"byteLength":36}]}`)
	for len(js)%4 != 0 {
		js = append(js, ' ')
	}
	total := 12 + 8 + len(js) + 8 + bin.Len()
	var b bytes.Buffer
	b.WriteString("glTF")
	_ = binary.Write(&b, binary.LittleEndian, []uint32{2, uint32(total), uint32(len(js)), 0x4E4F534A})
	b.Write(js)
	_ = binary.Write(&b, binary.LittleEndian, []uint32{uint32(bin.Len()), 0x004E4942})
	b.Write(bin.Bytes())
	return b.Bytes()
}
