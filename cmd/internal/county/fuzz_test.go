package county_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/voucherpos/voucherpos/cmd/internal/county"
	"github.com/voucherpos/voucherpos/terminal"
)

// FuzzVerify feeds Verify altered samples: a sample is a file an auditor
// receives, so whatever it holds, Verify reports faults and never panics
// or reads outside the sample. The corpus is a real sample's manifest and
// one of its records.
func FuzzVerify(f *testing.F) {
	c := newChain(f)
	busyDay(c)
	b, err := county.Sample(context.Background(), c, terminal.Qinshui2022(), day, day, 1000, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	id := b.Manifest.Records[0].ID
	f.Add(b.Files["sample.json"], b.Files["records/"+id+".json"])
	f.Add([]byte(`{"records":[{"id":"../../x-1","file":"records/../../x-1.json"}]}`), []byte(`{}`))
	f.Add([]byte(`{"population":-5,"rate_basis_points":99999999}`), []byte(`{"terminal_public_key":"00"}`))
	f.Fuzz(func(t *testing.T, manifest, record []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "records"), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, "sample.json"), manifest, 0o644)
		_ = os.WriteFile(filepath.Join(dir, "records", id+".json"), record, 0o644)
		_, _, _ = county.Verify(dir)
	})
}
