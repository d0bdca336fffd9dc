package qrimage

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// QuietZone is the margin, in modules, kept around every rendered code (the
// QR specification's minimum).
const QuietZone = 4

// ErrTooLong is returned when a text does not fit in a QR code at error
// correction level M.
var ErrTooLong = errors.New("qrimage: text too long for a QR code")

// Encode renders text as a black-on-white QR code at error correction level
// M with a quiet zone of QuietZone modules. size is the wanted width and
// height in pixels; the code is scaled by a whole number of pixels per
// module, so the image may be larger than size when size is too small for
// the code (size 0 gives the smallest image, 1 pixel per module).
func Encode(text string, size int) (image.Image, error) {
	if text == "" {
		return nil, errors.New("qrimage: empty text")
	}
	if size < 0 {
		return nil, fmt.Errorf("qrimage: negative size %d", size)
	}
	hints := map[gozxing.EncodeHintType]interface{}{
		gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_M,
		gozxing.EncodeHintType_MARGIN:           QuietZone,
		gozxing.EncodeHintType_CHARACTER_SET:    "UTF-8",
	}
	m, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, size, size, hints)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTooLong, err)
	}
	w, h := m.GetWidth(), m.GetHeight()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.Gray{Y: 255}
			if m.Get(x, y) {
				c.Y = 0
			}
			img.SetGray(x, y, c)
		}
	}
	return img, nil
}

// WritePNG renders text as a QR code (see Encode) and writes it to w as PNG.
func WritePNG(w io.Writer, text string, size int) error {
	img, err := Encode(text, size)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("write png: %w", err)
	}
	return nil
}
