// The race detector makes gozxing some ten times slower, and these 1,432
// decodes (every picture at four turns, plain and inverted) would take CI
// minutes under it; they hold no goroutines worth checking for races
// either. .ci/run runs this file without -race (see testdata/README.md).

//go:build !race

package qrimage_test

import (
	"image"
	"image/draw"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/voucherpos/voucherpos/drivers/qrimage"
)

// zxingThresholds are ZXing's own pass thresholds for its black-box QR
// sets (QRCodeBlackBox{1..6}TestCase.java): images that must decode to the
// exact text at 0, 90, 180 and 270 degrees.
var zxingThresholds = map[string][4]int{
	"qrcode-1": {17, 14, 17, 14},
	"qrcode-2": {32, 30, 31, 31},
	"qrcode-3": {38, 39, 36, 39},
	"qrcode-4": {36, 35, 35, 35},
	"qrcode-5": {19, 19, 19, 19},
	"qrcode-6": {15, 14, 13, 14},
}

// zxingDir finds ZXing's black-box QR sets: $ZXING_QRCODE_DIR, or
// shared/testdata/zxing-qrcode beside the clone or in a directory above it
// (their README asks that they stay there, not be copied in).
func zxingDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("ZXING_QRCODE_DIR"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "testdata", "zxing-qrcode")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	tb.Fatalf("ZXing's QR test images not found: set ZXING_QRCODE_DIR or put shared/testdata/zxing-qrcode beside the clone")
	return ""
}

// zxingCase is one picture of the sets with the text it carries.
type zxingCase struct {
	name string
	img  *image.RGBA
	want string
}

func loadZXing(tb testing.TB, dir string) []zxingCase {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no pictures in %s: %v", dir, err)
	}
	var out []zxingCase
	for _, f := range files {
		want, err := os.ReadFile(strings.TrimSuffix(f, ".png") + ".txt")
		if err != nil {
			tb.Fatal(err)
		}
		r, err := os.Open(f)
		if err != nil {
			tb.Fatal(err)
		}
		img, _, err := image.Decode(r)
		r.Close()
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		rgba := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
		draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
		out = append(out, zxingCase{name: filepath.Base(f), img: rgba, want: string(want)})
	}
	return out
}

// quarter returns img turned a quarter turn clockwise.
func quarter(img *image.RGBA) *image.RGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			copy(out.Pix[x*out.Stride+(h-1-y)*4:][:4], img.Pix[y*img.Stride+x*4:][:4])
		}
	}
	return out
}

// inverted returns img with light and dark swapped (white-on-black).
func inverted(img *image.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	for i := 0; i < len(img.Pix); i += 4 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = 255-img.Pix[i], 255-img.Pix[i+1], 255-img.Pix[i+2], 255
	}
	return out
}

// reads reports whether Decode finds want among the codes in img.
func reads(img image.Image, want string) bool {
	rs, err := qrimage.Decode(img)
	if err != nil {
		return false
	}
	for _, r := range rs {
		if r.Text == want {
			return true
		}
	}
	return false
}

// TestDecode_ZXingBlackBox decodes ZXing's own black-box QR sets at four
// rotations: every folder and rotation must reach ZXing's threshold, and
// the same pictures inverted (white-on-black) must read at least 85% as
// often as the plain ones.
func TestDecode_ZXingBlackBox(t *testing.T) {
	root := zxingDir(t)
	var mu sync.Mutex
	plainTotal, invTotal, need := 0, 0, 0
	t.Run("sets", func(t *testing.T) {
		for folder, th := range zxingThresholds {
			t.Run(folder, func(t *testing.T) {
				t.Parallel()
				cases := loadZXing(t, filepath.Join(root, folder))
				var plain, inv [4]int
				var missed []string
				for _, c := range cases {
					img := c.img
					for rot := range 4 {
						if rot > 0 {
							img = quarter(img)
						}
						if reads(img, c.want) {
							plain[rot]++
						} else {
							missed = append(missed, c.name+"@"+strconv.Itoa(90*rot))
						}
						if reads(inverted(img), c.want) {
							inv[rot]++
						}
					}
				}
				t.Logf("%s: %d pictures; read %v plain, %v inverted, thresholds %v; missed %v",
					folder, len(cases), plain, inv, th, missed)
				for rot := range 4 {
					if plain[rot] < th[rot] {
						t.Errorf("%s at %d°: read %d, ZXing's threshold %d", folder, 90*rot, plain[rot], th[rot])
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for rot := range 4 {
					plainTotal += plain[rot]
					invTotal += inv[rot]
					need += th[rot]
				}
			})
		}
	})
	t.Logf("all sets: %d of 716 read plain (ZXing needs %d), %d inverted", plainTotal, need, invTotal)
	if 100*invTotal < 85*plainTotal {
		t.Errorf("inverted pictures: %d read, under 85%% of the %d plain ones", invTotal, plainTotal)
	}
}
