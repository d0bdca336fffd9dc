// Package qrimage reads voucher QR codes from pictures (camera frames, codes
// received as PNG or JPEG) and renders voucher codes as QR images, with
// github.com/makiuchi-d/gozxing.
//
// Decoding converts the picture to grey once, with gozxing's own formula,
// and shrinks a large picture (longer side over MaxSide) by a whole factor
// before anything else. Then, until one pass reads: a plain pass; the
// full-size picture when it was shrunk (a small code in a large photo); the
// inverted picture (light modules on dark); TRY_HARDER passes over the
// picture smoothed by a 3x3 box filter (camera speckle) and turned by 90,
// 180 and 270 degrees. (A TRY_HARDER pass right after the plain one read
// none of ZXing's 716 test pictures the others miss, at a fifth of the
// time, so there is none.) Each pass reports every code it finds: a
// picture may hold several, and the caller decides what that means.
// gozxing's errors never leave this package: a picture without a readable
// code gives ErrNoCode.
package qrimage

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG decoder for image.Decode
	_ "image/png"  // register the PNG decoder for image.Decode
	"io"
	"os"

	"github.com/makiuchi-d/gozxing"
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// MaxSide is the longest side, in pixels, that the decoding passes work
// on; a larger picture is shrunk first (a code filling a 12-megapixel photo
// reads at a quarter of the size, for a sixteenth of the work).
const MaxSide = 1000

// ErrNoCode is returned when a picture holds no QR code that can be read.
var ErrNoCode = errors.New("qrimage: no readable QR code")

// ErrBadImage is returned when the bytes given are not a PNG or JPEG picture.
var ErrBadImage = errors.New("qrimage: not a PNG or JPEG image")

// Result is one decoded QR code.
type Result struct {
	// Text is the decoded text.
	Text string
	// Raw is the concatenated content of the code's byte segments, or the
	// text's bytes when the code has none (alphanumeric or numeric modes).
	Raw []byte
}

// hints are gozxing's settings for a pass.
type hints = map[gozxing.DecodeHintType]interface{}

var (
	plain  = hints{}
	harder = hints{gozxing.DecodeHintType_TRY_HARDER: true}
)

// Decode reads every QR code in img, each once, in the order gozxing finds
// them. It returns ErrNoCode if there is none it can read.
func Decode(img image.Image) ([]Result, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, ErrNoCode
	}
	full := toGrey(img)
	g := full.shrink(MaxSide)
	if r := read(g.source(), plain); r != nil {
		return r, nil
	}
	if g != full {
		if r := read(full.source(), plain); r != nil {
			return r, nil
		}
	}
	if r := read(g.source().Invert(), plain); r != nil {
		return r, nil
	}
	// Speckle from a cheap camera breaks the finder patterns; a 3x3 box
	// blur removes it at the cost of one more pass.
	if r := read(g.blur3().source(), harder); r != nil {
		return r, nil
	}
	// The QR finder patterns make the detector rotation invariant in
	// principle; in practice turning the picture rescues a few skewed reads.
	for range 3 {
		g = g.rotate90()
		if r := read(g.source(), harder); r != nil {
			return r, nil
		}
	}
	return nil, ErrNoCode
}

// read binarises src once and runs a gozxing pass with each set of hints in
// turn, until one reads. It returns nil if none does.
func read(src gozxing.LuminanceSource, passes ...hints) []Result {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return nil
	}
	for _, h := range passes {
		if r := readAll(bmp, h); len(r) > 0 {
			return r
		}
	}
	return nil
}

// readAll runs one pass over bmp, which caches its black matrix for the
// next: gozxing's multi-code reader first, then its single-code reader,
// which finds some codes the other misses. Codes are reported once each.
func readAll(bmp *gozxing.BinaryBitmap, h hints) (out []Result) {
	defer func() {
		// gozxing is not fuzzed against every picture; a panic there must
		// not take the terminal down.
		if p := recover(); p != nil {
			out = nil
		}
	}()
	var found []*gozxing.Result
	if rs, err := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, h); err == nil {
		found = rs
	}
	if len(found) == 0 {
		if r, err := qrcode.NewQRCodeReader().Decode(bmp, h); err == nil {
			found = append(found, r)
		}
	}
	for _, r := range found {
		res := Result{Text: r.GetText(), Raw: rawBytes(r)}
		if !seen(out, res) {
			out = append(out, res)
		}
	}
	return out
}

// seen reports whether rs holds r already.
func seen(rs []Result, r Result) bool {
	for _, x := range rs {
		if x.Text == r.Text && bytes.Equal(x.Raw, r.Raw) {
			return true
		}
	}
	return false
}

// rawBytes joins the byte segments gozxing reports, falling back to the text.
func rawBytes(res *gozxing.Result) []byte {
	segs, ok := res.GetResultMetadata()[gozxing.ResultMetadataType_BYTE_SEGMENTS].([][]byte)
	if !ok || len(segs) == 0 {
		return []byte(res.GetText())
	}
	return bytes.Join(segs, nil)
}

// DecodeReader decodes every QR code in a PNG or JPEG picture read from r.
func DecodeReader(r io.Reader) ([]Result, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	return Decode(img)
}

// DecodeFile decodes every QR code in the PNG or JPEG picture in the file
// at path.
func DecodeFile(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	return DecodeReader(f)
}
