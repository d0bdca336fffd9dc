package terminal

import (
	"fmt"
	"math/bits"
	"strings"
)

// Fen is an amount of money in fen (0.01 yuan). All money in the product is
// integer fen; there are no floats anywhere on the money path.
type Fen int64

// MaxFen is the largest amount the terminal accepts anywhere: ¥100,000,000.00.
// A basket, a price or a voucher above it is absurd for a county programme
// whose largest voucher is ¥10,000 and is rejected with ErrAmount.
const MaxFen Fen = 100_000_000_00

// ErrAmount is returned when an amount is negative, above MaxFen, or when
// arithmetic on amounts would leave that range.
var ErrAmount = fmt.Errorf("amount out of range (0 to %s)", MaxFen)

// Yuan returns whole yuan as fen.
func Yuan(y int64) Fen { return Fen(y * 100) }

// Valid reports whether f is within 0..MaxFen.
func (f Fen) Valid() bool { return f >= 0 && f <= MaxFen }

// String prints the amount as yuan with two decimals: "¥12.50", "-¥0.01".
func (f Fen) String() string {
	sign := ""
	u := uint64(f)
	if f < 0 {
		sign = "-"
		u = uint64(-f)
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, u/100, u%100)
}

// Plain prints the amount as a plain decimal yuan string, "12.50", for CSV.
func (f Fen) Plain() string {
	s := f.String()
	return strings.Replace(s, "¥", "", 1)
}

// ParseYuan parses a yuan amount such as "12.5", "¥12.50", "￥1,000" or "200"
// into fen. At most two decimals are allowed; negative and out-of-range
// amounts are rejected.
func ParseYuan(s string) (Fen, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "¥")
	s = strings.TrimPrefix(s, "￥")
	s = strings.TrimSuffix(s, "元")
	s = strings.ReplaceAll(s, ",", "")
	if s == "" {
		return 0, fmt.Errorf("parse yuan %q: empty", orig)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("parse yuan %q: negative: %w", orig, ErrAmount)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || (hasDot && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("parse yuan %q: want digits with at most two decimals", orig)
	}
	var f Fen
	for _, c := range whole {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("parse yuan %q: want digits with at most two decimals", orig)
		}
		f = f*10 + Fen(c-'0')
	}
	f *= 100
	if len(frac) == 1 {
		frac += "0"
	}
	for i, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("parse yuan %q: want digits with at most two decimals", orig)
		}
		if i == 0 {
			f += Fen(c-'0') * 10
		} else {
			f += Fen(c - '0')
		}
	}
	if !f.Valid() {
		return 0, fmt.Errorf("parse yuan %q: %w", orig, ErrAmount)
	}
	return f, nil
}

// Add returns a+b, or ErrAmount if either operand or the sum is out of range.
func (f Fen) Add(b Fen) (Fen, error) {
	if !f.Valid() || !b.Valid() || f+b > MaxFen {
		return 0, ErrAmount
	}
	return f + b, nil
}

// Sub returns f-b, or ErrAmount if either operand is out of range or b > f.
func (f Fen) Sub(b Fen) (Fen, error) {
	if !f.Valid() || !b.Valid() || b > f {
		return 0, ErrAmount
	}
	return f - b, nil
}

// Mul returns f*n for a non-negative count n, or ErrAmount if the product
// leaves the range. It never overflows int64.
func (f Fen) Mul(n int64) (Fen, error) {
	if !f.Valid() || n < 0 {
		return 0, ErrAmount
	}
	if n != 0 && f > MaxFen/Fen(n) {
		return 0, ErrAmount
	}
	return f * Fen(n), nil
}

// MulDivCeil returns ceil(f*num/den) for 0 <= num <= den, den > 0, without
// overflow for amounts within MaxFen. It is used to share a discount across
// refunded items, rounding the voucher's share up so that no subsidy leaves
// as cash.
func MulDivCeil(f Fen, num, den Fen) Fen {
	if den <= 0 || num <= 0 || f <= 0 {
		return 0
	}
	if num >= den {
		return f
	}
	// f, num, den <= 1e10, so f*num may reach 1e20: split to stay in int64.
	q, r := f/den, f%den
	// f*num/den = q*num + r*num/den, and r < den <= 1e10, num <= 1e10.
	hi := q * num
	rn := mulDivCeil64(int64(r), int64(num), int64(den))
	return hi + Fen(rn)
}

// mulDivCeil64 returns ceil(a*b/c) for a, b < c <= 1e10 using 128-bit
// intermediate arithmetic.
func mulDivCeil64(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, rem := bits.Div64(hi, lo, uint64(c))
	if rem != 0 {
		q++
	}
	return int64(q)
}
