// Package qrimage reads voucher QR codes from pictures (camera frames, codes
// received as PNG or JPEG) and renders voucher codes as QR images, with
// github.com/makiuchi-d/gozxing.
//
// Decoding tries a plain pass first, then a TRY_HARDER pass, then the image
// turned by 90, 180 and 270 degrees, so that rotated, scaled and mildly noisy
// pictures read. gozxing's errors never leave this package: a picture without
// a readable code gives ErrNoCode.
package qrimage

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder for image.Decode
	_ "image/png"  // register the PNG decoder for image.Decode
	"io"
	"os"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

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

// Decode reads one QR code from img. It returns ErrNoCode if there is none
// it can read.
func Decode(img image.Image) (Result, error) {
	if img == nil || img.Bounds().Empty() {
		return Result{}, ErrNoCode
	}
	plain := map[gozxing.DecodeHintType]interface{}{}
	harder := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	if r, err := decodeOnce(img, plain, harder); err == nil {
		return r, nil
	}
	// The blurred and turned pictures below are made from one grey copy.
	g := grey(img)
	// Speckle from a cheap camera breaks the finder patterns; a 3x3 box
	// blur removes it at the cost of one more pass.
	if r, err := decodeOnce(blur3(g), harder); err == nil {
		return r, nil
	}
	// The QR finder patterns make the detector rotation invariant in
	// principle; in practice turning the picture rescues a few skewed reads.
	for range 3 {
		g = rotate90(g)
		if r, err := decodeOnce(g, harder); err == nil {
			return r, nil
		}
	}
	return Result{}, ErrNoCode
}

// decodeOnce binarises img once and runs a gozxing pass with each set of
// hints in turn, until one reads; gozxing's errors become ErrNoCode.
func decodeOnce(img image.Image, passes ...map[gozxing.DecodeHintType]interface{}) (Result, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return Result{}, ErrNoCode
	}
	for _, hints := range passes {
		if r, err := readQR(bmp, hints); err == nil {
			return r, nil
		}
	}
	return Result{}, ErrNoCode
}

// readQR runs one gozxing pass over bmp, which caches its black matrix for
// the next pass.
func readQR(bmp *gozxing.BinaryBitmap, hints map[gozxing.DecodeHintType]interface{}) (r Result, err error) {
	defer func() {
		// gozxing is not fuzzed against every picture; a panic there must
		// not take the terminal down.
		if p := recover(); p != nil {
			r, err = Result{}, fmt.Errorf("%w (decoder panic: %v)", ErrNoCode, p)
		}
	}()
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return Result{}, ErrNoCode
	}
	return Result{Text: res.GetText(), Raw: rawBytes(res)}, nil
}

// rawBytes joins the byte segments gozxing reports, falling back to the text.
func rawBytes(res *gozxing.Result) []byte {
	segs, ok := res.GetResultMetadata()[gozxing.ResultMetadataType_BYTE_SEGMENTS].([][]byte)
	if !ok || len(segs) == 0 {
		return []byte(res.GetText())
	}
	return bytes.Join(segs, nil)
}

// DecodeReader decodes a PNG or JPEG picture read from r.
func DecodeReader(r io.Reader) (Result, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	return Decode(img)
}

// DecodeFile decodes the PNG or JPEG picture in the file at path.
func DecodeFile(path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	return DecodeReader(f)
}

// grey returns img in grey levels (color.GrayModel) with its origin at 0,0;
// a grey picture with that origin is returned as is.
func grey(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok && g.Rect.Min == (image.Point{}) {
		return g
	}
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			g.Pix[y*g.Stride+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
		}
	}
	return g
}

// rotate90 turns g a quarter turn counter-clockwise.
func rotate90(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, h, w))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			out.Pix[(w-1-x)*out.Stride+y] = g.Pix[y*g.Stride+x]
		}
	}
	return out
}

// blur3 returns g smoothed by a 3x3 box filter.
func blur3(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sum, n := 0, 0
			for yy := max(y-1, 0); yy <= min(y+1, h-1); yy++ {
				for xx := max(x-1, 0); xx <= min(x+1, w-1); xx++ {
					sum += int(g.Pix[yy*g.Stride+xx])
					n++
				}
			}
			out.Pix[y*out.Stride+x] = uint8(sum / n)
		}
	}
	return out
}
