package terminal_test

import (
	"fmt"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

func TestParseRecordID(t *testing.T) {
	tests := []struct {
		id   string
		term string
		seq  uint64
		ok   bool
	}{
		{"T1-0000000042", "T1", 42, true},
		{"T-A-0000000001", "T-A", 1, true}, // a dash inside the terminal id
		{"T1-42", "", 0, false},            // not RecordID's width
		{"T1-0000000000", "", 0, false},    // sequences start at 1
		{"-0000000001", "", 0, false},
		{"T1", "", 0, false},
		{"T1-00000000x1", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		term, seq, ok := terminal.ParseRecordID(tt.id)
		if term != tt.term || seq != tt.seq || ok != tt.ok {
			t.Errorf("ParseRecordID(%q) = %q, %d, %v; want %q, %d, %v", tt.id, term, seq, ok, tt.term, tt.seq, tt.ok)
		}
		if ok && terminal.RecordID(term, seq) != tt.id {
			t.Errorf("RecordID(%q, %d) does not give %q back", term, seq, tt.id)
		}
	}
}

// TestRecordID: the id is "%s-%010d" (every stored record's id is), at any width.
func TestRecordID(t *testing.T) {
	for _, seq := range []uint64{0, 1, 42, 999_999_999, 1_000_000_000, 9_999_999_999, 10_000_000_000, 1<<64 - 1} {
		for _, term := range []string{"", "T1", "T-A", "收银台1"} {
			if got, want := terminal.RecordID(term, seq), fmt.Sprintf("%s-%010d", term, seq); got != want {
				t.Errorf("RecordID(%q, %d) = %q, want %q", term, seq, got, want)
			}
		}
	}
}
