package qrimage_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voucherpos/voucherpos/drivers/qrimage"
)

// voucherCode returns a voucher-like code: "VC1:" and n characters of the
// Base45 alphabet, as the issuer prints them.
func voucherCode(seed uint64, n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("VC1:")
	for range n {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// one returns the only code Decode found, or an error if it found several.
func one(rs []qrimage.Result, err error) (qrimage.Result, error) {
	if err != nil {
		return qrimage.Result{}, err
	}
	if len(rs) != 1 {
		return qrimage.Result{}, fmt.Errorf("%d codes, want 1: %+v", len(rs), rs)
	}
	return rs[0], nil
}

func mustEncode(tb testing.TB, text string, size int) image.Image {
	tb.Helper()
	img, err := qrimage.Encode(text, size)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return img
}

// turn rotates img by quarter turns clockwise.
func turn(img image.Image, quarters int) image.Image {
	for range quarters {
		b := img.Bounds()
		out := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				out.Set(b.Max.Y-1-y, x-b.Min.X, img.At(x, y))
			}
		}
		img = out
	}
	return img
}

// scale enlarges img k times by pixel replication.
func scale(img image.Image, k int) image.Image {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			out.Set(x, y, img.At(b.Min.X+x/k, b.Min.Y+y/k))
		}
	}
	return out
}

// noisy adds grey-level noise of amplitude amp and flips a fraction of the
// pixels, like a cheap camera in shop lighting.
func noisy(img image.Image, amp int, flip float64, seed uint64) image.Image {
	r := rand.New(rand.NewPCG(seed, 2))
	b := img.Bounds()
	out := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g := int(color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
			if g > 128 {
				g = 210
			} else {
				g = 50
			}
			g += r.IntN(2*amp+1) - amp
			if r.Float64() < flip {
				g = 255 - g
			}
			out.SetGray(x, y, color.Gray{Y: uint8(max(0, min(255, g)))})
		}
	}
	return out
}

func TestDecode(t *testing.T) {
	code := voucherCode(1, 200)
	base := mustEncode(t, code, 0)
	cases := map[string]image.Image{
		"Plain":      mustEncode(t, code, 300),
		"Rotate90":   turn(mustEncode(t, code, 300), 1),
		"Rotate180":  turn(mustEncode(t, code, 300), 2),
		"Rotate270":  turn(mustEncode(t, code, 300), 3),
		"Scale2x":    scale(mustEncode(t, code, 300), 2),
		"Scale3xMin": scale(base, 3),
		"Noisy":      noisy(mustEncode(t, code, 400), 40, 0.01, 3),
		"NoisyTurn":  turn(noisy(scale(base, 4), 30, 0.005, 4), 1),
	}
	for name, img := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := one(qrimage.Decode(img))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Text != code {
				t.Fatalf("got %q, want %q", got.Text, code)
			}
		})
	}
}

func TestDecode_RawBytes(t *testing.T) {
	// Lowercase forces byte mode: the raw bytes come from the byte segment.
	text := "vc1:mixed Case 凭证"
	got, err := one(qrimage.Decode(mustEncode(t, text, 200)))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Text != text || string(got.Raw) != text {
		t.Fatalf("got %q raw %q, want %q", got.Text, got.Raw, text)
	}
}

func TestDecode_ErrNoCode(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	for name, img := range map[string]image.Image{
		"Blank": blank,
		"Noise": noisy(blank, 120, 0.5, 9),
		"Empty": image.NewGray(image.Rect(0, 0, 0, 0)),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := qrimage.Decode(img); !errors.Is(err, qrimage.ErrNoCode) {
				t.Fatalf("err = %v, want ErrNoCode", err)
			}
		})
	}
}

func TestDecodeReader_Formats(t *testing.T) {
	code := voucherCode(2, 180)
	img := mustEncode(t, code, 400)
	var pngBuf, jpgBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpgBuf, img, &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	for name, buf := range map[string]*bytes.Buffer{"PNG": &pngBuf, "JPEG": &jpgBuf} {
		t.Run(name, func(t *testing.T) {
			got, err := one(qrimage.DecodeReader(buf))
			if err != nil || got.Text != code {
				t.Fatalf("got %q, %v; want %q", got.Text, err, code)
			}
		})
	}
	t.Run("ErrBadImage", func(t *testing.T) {
		_, err := qrimage.DecodeReader(strings.NewReader("not an image"))
		if !errors.Is(err, qrimage.ErrBadImage) {
			t.Fatalf("err = %v, want ErrBadImage", err)
		}
	})
}

func TestWritePNG(t *testing.T) {
	code := voucherCode(3, 220)
	path := filepath.Join(t.TempDir(), "v.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := qrimage.WritePNG(f, code, 256); err != nil {
		t.Fatalf("WritePNG: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := one(qrimage.DecodeFile(path))
	if err != nil || got.Text != code {
		t.Fatalf("got %q, %v; want %q", got.Text, err, code)
	}
	// The quiet zone is kept: the border is white.
	img := mustEncode(t, code, 0)
	b := img.Bounds()
	for i := 0; i < b.Dx(); i++ {
		for _, p := range []image.Point{{i, 0}, {i, b.Dy() - 1}, {0, i}, {b.Dx() - 1, i}} {
			if color.GrayModel.Convert(img.At(p.X, p.Y)).(color.Gray).Y != 255 {
				t.Fatalf("pixel %v of the quiet zone is dark", p)
			}
		}
	}
}

func TestFixtures(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "voucher", "code.txt"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "voucher", "*.[pj][np]g"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got, err := one(qrimage.DecodeFile(f))
			if err != nil || got.Text != strings.TrimSpace(string(want)) {
				t.Fatalf("got %q, %v", got.Text, err)
			}
		})
	}
}

// BenchmarkDecode reports the time to decode one picture, in ms per image.
func BenchmarkDecode(b *testing.B) {
	code := voucherCode(4, 200)
	imgs := map[string]image.Image{
		"Plain600": mustEncode(b, code, 600),
		"Rotate90": turn(mustEncode(b, code, 600), 1),
		"Scale2x":  scale(mustEncode(b, code, 300), 2),
		"Noisy":    noisy(mustEncode(b, code, 600), 40, 0.01, 5),
	}
	for name, img := range imgs {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := qrimage.Decode(img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/image")
		})
	}
}

// BenchmarkEncode reports the time to render one voucher code as a PNG.
func BenchmarkEncode(b *testing.B) {
	code := voucherCode(5, 200)
	for b.Loop() {
		if err := qrimage.WritePNG(&bytes.Buffer{}, code, 400); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteFixtures regenerates testdata/voucher when QRIMAGE_WRITE_FIXTURES=1.
func TestWriteFixtures(t *testing.T) {
	if os.Getenv("QRIMAGE_WRITE_FIXTURES") != "1" {
		t.Skip("set QRIMAGE_WRITE_FIXTURES=1 to regenerate testdata/voucher")
	}
	dir := filepath.Join("testdata", "voucher")
	code := voucherCode(7, 200)
	if err := os.WriteFile(filepath.Join(dir, "code.txt"), []byte(code+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := mustEncode(t, code, 0)
	write := func(name string, img image.Image) {
		var buf bytes.Buffer
		var err error
		if strings.HasSuffix(name, ".jpg") {
			err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70})
		} else {
			err = png.Encode(&buf, img)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("plain.png", mustEncode(t, code, 300))
	write("rotated90.png", turn(mustEncode(t, code, 300), 1))
	write("rotated180.jpg", turn(mustEncode(t, code, 300), 2))
	write("scaled2x.png", scale(scale(base, 3), 2))
	write("noisy.jpg", noisy(mustEncode(t, code, 400), 40, 0.01, 8))
}
