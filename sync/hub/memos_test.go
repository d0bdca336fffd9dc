package hub

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/voucherpos/voucherpos/terminal"
)

func testRecents() []terminal.Recent {
	at := time.Date(2026, 5, 1, 12, 30, 0, 123, terminal.Zone)
	return []terminal.Recent{
		{RedemptionID: "T1-0000000042", VoucherID: 0xFEDCBA9876543210, Holder: 0xA1, At: at, EligibleFen: 26000, SpendFen: 20000},
		{RedemptionID: "T2#1-0000000001", VoucherID: 7, Holder: 0xA1, At: at.Add(-71 * time.Hour), EligibleFen: 0, SpendFen: 1},
	}
}

// equalRecents compares as the rules read them: the same instant, not the same zone.
func equalRecents(t *testing.T, got, want []terminal.Recent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d recents, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.At.Equal(w.At) {
			t.Errorf("recent %d: at %v, want %v", i, g.At, w.At)
		}
		g.At, w.At = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("recent %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestMemos_Binary(t *testing.T) {
	want := testRecents()
	rs := recents(want)
	b, err := encodeMemo(&rs)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != memoBinary {
		t.Fatalf("holder memo stored as %q, want the binary layout", b)
	}
	var got recents
	if err := decodeMemo(b, &got); err != nil {
		t.Fatal(err)
	}
	equalRecents(t, got, want)

	lane := laneRecent(want[0])
	b, err = encodeMemo(&lane)
	if err != nil {
		t.Fatal(err)
	}
	var gotLane laneRecent
	if err := decodeMemo(b, &gotLane); err != nil {
		t.Fatal(err)
	}
	equalRecents(t, []terminal.Recent{terminal.Recent(gotLane)}, want[:1])
}

// Memos stored as JSON by earlier versions are still read.
func TestMemos_OldJSON(t *testing.T) {
	want := testRecents()
	old, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got recents
	if err := decodeMemo(old, &got); err != nil {
		t.Fatal(err)
	}
	equalRecents(t, got, want)

	old, err = json.Marshal(want[1])
	if err != nil {
		t.Fatal(err)
	}
	var lane laneRecent
	if err := decodeMemo(old, &lane); err != nil {
		t.Fatal(err)
	}
	equalRecents(t, []terminal.Recent{terminal.Recent(lane)}, want[1:])
}

// A damaged binary memo is an error at every length, never a panic or a
// memo read short.
func TestMemos_Damaged(t *testing.T) {
	rs := recents(testRecents())
	b, err := encodeMemo(&rs)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(b); n++ {
		var got recents
		if err := decodeMemo(b[:n], &got); err == nil {
			t.Errorf("memo cut to %d of %d bytes read as %d recents", n, len(b), len(got))
		}
	}
	var got recents
	if err := decodeMemo(append(b, 0), &got); err == nil {
		t.Error("memo with a byte too many read without error")
	}
	huge := []byte{memoBinary, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if err := decodeMemo(huge, &got); err == nil {
		t.Error("memo counting 4G recents read without error")
	}
}

func TestMemos_HolderKey(t *testing.T) {
	for _, h := range []terminal.HolderID{0, 0xABC, 0xFEDCBA9876543210, 1 << 63, 0xFFFFFFFFFFFFFFFF} {
		if got, want := holderMemo("M1", h), "holder/M1/"+h.String(); got != want {
			t.Errorf("holder %d: %q, want %q", uint64(h), got, want)
		}
	}
}
