package qrimage

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
)

// toGrey's fast paths give exactly gozxing's own luminance (what the
// passes before this package's conversion saw), for every picture type a
// decoder returns, odd sizes and offsets included.
func TestToGrey_MatchesGozxing(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rect := image.Rect(3, 5, 3+37, 5+23)
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
	}
	imgs := map[string]image.Image{}
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		m := image.NewYCbCr(rect, ratio)
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		imgs["YCbCr"+ratio.String()] = m
	}
	gray := image.NewGray(rect)
	fill(gray.Pix)
	imgs["Gray"] = gray
	rgba := image.NewRGBA(rect)
	fill(rgba.Pix)
	for i := 0; i < len(rgba.Pix); i += 4 { // premultiplied: no channel above alpha
		a := rgba.Pix[i+3]
		rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2] = min(rgba.Pix[i], a), min(rgba.Pix[i+1], a), min(rgba.Pix[i+2], a)
	}
	imgs["RGBA"] = rgba
	nrgba := image.NewNRGBA(rect)
	fill(nrgba.Pix)
	imgs["NRGBA"] = nrgba
	pal := image.NewPaletted(rect, color.Palette{color.Black, color.White, color.RGBA{200, 10, 30, 255}, color.NRGBA{1, 2, 3, 4}})
	for i := range pal.Pix {
		pal.Pix[i] = byte(r.IntN(4))
	}
	imgs["Paletted"] = pal
	imgs["Gray16 (generic)"] = image.NewGray16(rect)
	for name, img := range imgs {
		t.Run(name, func(t *testing.T) {
			want := gozxing.NewLuminanceSourceFromImage(img).GetMatrix()
			got := toGrey(img)
			if got.w != rect.Dx() || got.h != rect.Dy() {
				t.Fatalf("size %dx%d", got.w, got.h)
			}
			for i := range want {
				if got.pix[i] != want[i] {
					t.Fatalf("pixel %d: got %d, gozxing %d", i, got.pix[i], want[i])
				}
			}
		})
	}
}

func TestGrey_Shrink(t *testing.T) {
	g := &grey{w: 2500, h: 1001, pix: make([]byte, 2500*1001)}
	for i := range g.pix {
		g.pix[i] = byte(i % 7 * 30)
	}
	s := g.shrink(1000)
	if s.w != 833 || s.h != 333 {
		t.Fatalf("shrunk to %dx%d, want 833x333 (a factor of 3)", s.w, s.h)
	}
	// The first output pixel is the mean of the top-left 3x3 block.
	sum := 0
	for y := range 3 {
		for x := range 3 {
			sum += int(g.pix[y*g.w+x])
		}
	}
	if int(s.pix[0]) != sum/9 {
		t.Fatalf("pixel 0: got %d, want %d", s.pix[0], sum/9)
	}
	if small := (&grey{w: 1000, h: 10, pix: make([]byte, 10000)}); small.shrink(1000) != small {
		t.Fatal("a picture within the limit was copied")
	}
}
