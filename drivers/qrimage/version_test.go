package qrimage_test

import (
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"

	"github.com/voucherpos/voucherpos/terminal"
)

// TestVoucherCodeSymbolSize pins what docs/voucher-code.md promises: a
// voucher code (171 characters of the QR alphanumeric set) is encoded in
// alphanumeric mode as a version-7 symbol (45×45 modules) at level M.
func TestVoucherCodeSymbolSize(t *testing.T) {
	code := voucherCode(7, terminal.CodeLen-len(terminal.CodePrefix))
	q, err := encoder.Encoder_encode(code, decoder.ErrorCorrectionLevel_M, map[gozxing.EncodeHintType]any{})
	if err != nil {
		t.Fatal(err)
	}
	if v, mode, w := q.GetVersion().GetVersionNumber(), q.GetMode(), q.GetMatrix().GetWidth(); v != 7 || mode != decoder.Mode_ALPHANUMERIC || w != 45 {
		t.Errorf("version %d, mode %v, %d modules; want 7, ALPHANUMERIC, 45", v, mode, w)
	}
}
