package terminal_test

import (
	"errors"
	"testing"

	"github.com/voucherpos/voucherpos/terminal"
)

func TestParseYuan(t *testing.T) {
	ok := []struct {
		in   string
		want terminal.Fen
	}{
		{"0", 0}, {"12.5", 1250}, {"¥12.50", 1250}, {"￥1,000", 100000}, {"200元", 20000},
		{"0.01", 1}, {" 3.07 ", 307}, {"100000000", terminal.MaxFen},
	}
	for _, c := range ok {
		got, err := terminal.ParseYuan(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseYuan(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []string{"", "-1", "1.234", "1.", ".5", "abc", "1e3", "100000000.01", "99999999999999", "１２", "1.2a", "¥", "NaN"}
	for _, in := range bad {
		if got, err := terminal.ParseYuan(in); err == nil {
			t.Errorf("ParseYuan(%q) = %d, want an error", in, got)
		}
	}
	if _, err := terminal.ParseYuan("-5"); !errors.Is(err, terminal.ErrAmount) {
		t.Errorf("negative: got %v, want ErrAmount", err)
	}
}

func TestFen_String(t *testing.T) {
	for f, want := range map[terminal.Fen]string{0: "¥0.00", 1: "¥0.01", 1250: "¥12.50", 100000: "¥1000.00", -1: "-¥0.01"} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", f, got, want)
		}
		if f >= 0 {
			back, err := terminal.ParseYuan(f.String())
			if err != nil || back != f {
				t.Errorf("round trip %d: %d, %v", f, back, err)
			}
		}
	}
}

func TestFen_Arithmetic(t *testing.T) {
	if _, err := terminal.MaxFen.Add(1); !errors.Is(err, terminal.ErrAmount) {
		t.Error("MaxFen+1 did not fail")
	}
	if _, err := terminal.Fen(-1).Add(1); err == nil {
		t.Error("negative operand accepted")
	}
	if _, err := terminal.Fen(1).Sub(2); err == nil {
		t.Error("1-2 accepted")
	}
	if _, err := terminal.Fen(1 << 40).Mul(1 << 40); err == nil {
		t.Error("overflowing product accepted")
	}
	if got, err := terminal.Fen(1999).Mul(3); err != nil || got != 5997 {
		t.Errorf("1999*3 = %d, %v", got, err)
	}
	if _, err := terminal.Fen(5).Mul(-1); err == nil {
		t.Error("negative quantity accepted")
	}
}

func TestMulDivCeil(t *testing.T) {
	cases := []struct{ f, num, den, want terminal.Fen }{
		{4000, 10000, 20000, 2000},
		{4000, 1, 3, 1334},
		{1000, 1, 3, 334},
		{0, 5, 9, 0},
		{7, 0, 9, 0},
		{7, 9, 9, 7},
		{terminal.MaxFen, terminal.MaxFen - 1, terminal.MaxFen, terminal.MaxFen - 1},
		{terminal.MaxFen - 3, 7, terminal.MaxFen, 7},
	}
	for _, c := range cases {
		if got := terminal.MulDivCeil(c.f, c.num, c.den); got != c.want {
			t.Errorf("MulDivCeil(%d,%d,%d) = %d, want %d", c.f, c.num, c.den, got, c.want)
		}
	}
}
