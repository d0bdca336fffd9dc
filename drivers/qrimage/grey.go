package qrimage

import (
	"image"

	"github.com/makiuchi-d/gozxing"
)

// grey is a picture in grey levels, one byte a pixel, row after row, with
// gozxing's own luminance formula (gozxing.NewLuminanceSourceFromImage:
// (R+2G+B)/4, composed over white). Every pass reads a grey made by the
// same conversion, so a fallback never sees a different picture from the
// first pass.
type grey struct {
	w, h int
	pix  []byte
}

// toGrey converts img once; the common decoded types are read without the
// per-pixel interface call of img.At, with the same values.
func toGrey(img image.Image) *grey {
	b := img.Bounds()
	g := &grey{w: b.Dx(), h: b.Dy(), pix: make([]byte, b.Dx()*b.Dy())}
	i := 0
	switch m := img.(type) {
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			i += copy(g.pix[i:i+g.w], m.Pix[off:off+g.w])
		}
	case *image.YCbCr:
		hd, vd := chromaDivisors(m.SubsampleRatio)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			yrow := m.Y[m.YOffset(b.Min.X, y):]
			crow := (y/vd - m.Rect.Min.Y/vd) * m.CStride
			for x := b.Min.X; x < b.Max.X; x++ {
				c := crow + x/hd - m.Rect.Min.X/hd
				g.pix[i] = lumYCbCr(yrow[x-b.Min.X], m.Cb[c], m.Cr[c])
				i++
			}
		}
	case *image.RGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.pix[i] = lum(m.RGBAAt(x, y).RGBA())
				i++
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.pix[i] = lum(m.NRGBAAt(x, y).RGBA())
				i++
			}
		}
	case *image.Paletted:
		var pal [256]byte
		for j, c := range m.Palette {
			pal[j] = lum(c.RGBA())
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			off := m.PixOffset(b.Min.X, y)
			for _, p := range m.Pix[off : off+g.w] {
				g.pix[i] = pal[p]
				i++
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.pix[i] = lum(img.At(x, y).RGBA())
				i++
			}
		}
	}
	return g
}

// lum is gozxing's luminance of one pixel (alpha-premultiplied 16-bit
// channels), composed over white.
func lum(r, g, b, a uint32) byte {
	l := (r + 2*g + b) * 255 / (4 * 0xffff)
	return byte((l*a + (0xffff-a)*255) / 0xffff)
}

// chromaDivisors returns how many pixels across and down share one chroma
// sample (image.YCbCr.COffset's arithmetic).
func chromaDivisors(r image.YCbCrSubsampleRatio) (h, v int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

// lumYCbCr is lum of color.YCbCr{y, cb, cr}.RGBA(), that conversion
// inlined (a 12-megapixel photo spends most of its conversion time in
// the calls otherwise).
func lumYCbCr(y, cb, cr byte) byte {
	yy := int32(y) * 0x10101
	cb1, cr1 := int32(cb)-128, int32(cr)-128
	return byte((clamp16(yy+91881*cr1) + 2*clamp16(yy-22554*cb1-46802*cr1) + clamp16(yy+116130*cb1)) * 255 / (4 * 0xffff))
}

// clamp16 is color.YCbCr.RGBA's scaling of one channel to 16 bits.
func clamp16(v int32) uint32 {
	if uint32(v)&0xff000000 == 0 {
		return uint32(v >> 8)
	}
	return uint32(^(v >> 31) & 0xffff)
}

// shrink returns g reduced by a whole factor so that its longer side is at
// most limit, each pixel the mean of the block it replaces; g itself when
// it is small enough.
func (g *grey) shrink(limit int) *grey {
	k := (max(g.w, g.h) + limit - 1) / limit
	if k <= 1 {
		return g
	}
	out := &grey{w: g.w / k, h: g.h / k}
	out.pix = make([]byte, out.w*out.h)
	sums := make([]int, out.w)
	for oy := 0; oy < out.h; oy++ {
		clear(sums)
		for y := oy * k; y < oy*k+k; y++ {
			row := g.pix[y*g.w : y*g.w+out.w*k]
			for ox := range sums {
				s := 0
				for _, p := range row[ox*k : ox*k+k] {
					s += int(p)
				}
				sums[ox] += s
			}
		}
		for ox, s := range sums {
			out.pix[oy*out.w+ox] = byte(s / (k * k))
		}
	}
	return out
}

// rotate90 returns g turned a quarter turn counter-clockwise.
func (g *grey) rotate90() *grey {
	out := &grey{w: g.h, h: g.w, pix: make([]byte, len(g.pix))}
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			out.pix[(g.w-1-x)*out.w+y] = g.pix[y*g.w+x]
		}
	}
	return out
}

// blur3 returns g smoothed by a 3x3 box filter.
func (g *grey) blur3() *grey {
	w, h := g.w, g.h
	out := &grey{w: w, h: h, pix: make([]byte, len(g.pix))}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sum, n := 0, 0
			for yy := max(y-1, 0); yy <= min(y+1, h-1); yy++ {
				for xx := max(x-1, 0); xx <= min(x+1, w-1); xx++ {
					sum += int(g.pix[yy*w+xx])
					n++
				}
			}
			out.pix[y*w+x] = uint8(sum / n)
		}
	}
	return out
}

// source is g as a gozxing luminance source, sharing its pixels.
func (g *grey) source() gozxing.LuminanceSource {
	return &greySource{LuminanceSourceBase: gozxing.LuminanceSourceBase{Width: g.w, Height: g.h}, pix: g.pix}
}

// greySource is a gozxing.LuminanceSource over a grey's pixels.
type greySource struct {
	gozxing.LuminanceSourceBase
	pix []byte
}

// GetRow copies row y into row (allocated when too small).
func (s *greySource) GetRow(y int, row []byte) ([]byte, error) {
	if len(row) < s.Width {
		row = make([]byte, s.Width)
	}
	copy(row, s.pix[y*s.Width:(y+1)*s.Width])
	return row, nil
}

// GetMatrix returns the pixels; gozxing's binarizers only read them.
func (s *greySource) GetMatrix() []byte { return s.pix }

// Invert returns the source with dark and light swapped.
func (s *greySource) Invert() gozxing.LuminanceSource { return gozxing.NewInvertedLuminanceSource(s) }

// String draws the source, for gozxing's debugging.
func (s *greySource) String() string { return gozxing.LuminanceSourceString(s) }
