package terminal

import (
	"errors"
	"slices"
)

// base45Alphabet is RFC 9285's alphabet: exactly the QR code alphanumeric set.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Value maps a character to its Base45 value, or -1.
var base45Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

// errBase45 is returned for text that is not canonical Base45.
var errBase45 = errors.New("not canonical base45")

// appendBase45 appends the RFC 9285 Base45 encoding of src to dst. It
// grows dst once and writes by index: every issued voucher's code is
// encoded at its claim.
func appendBase45(dst, src []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(src)/2*3+len(src)%2*2)[:n+len(src)/2*3+len(src)%2*2]
	out := dst[n:]
	for len(src) >= 2 && len(out) >= 3 {
		v := uint(src[0])<<8 | uint(src[1])
		out[0], out[1], out[2] = base45Alphabet[v%45], base45Alphabet[v/45%45], base45Alphabet[v/2025]
		src, out = src[2:], out[3:]
	}
	if len(src) == 1 && len(out) >= 2 {
		v := uint(src[0])
		out[0], out[1] = base45Alphabet[v%45], base45Alphabet[v/45]
	}
	return dst
}

// base45DecodedLen returns the number of bytes n characters of Base45 decode
// to, or -1 if no byte string encodes to n characters.
func base45DecodedLen(n int) int {
	if n%3 == 1 {
		return -1
	}
	return n/3*2 + n%3/2
}

// decodeBase45 decodes canonical Base45 text into dst, which must be exactly
// base45DecodedLen(len(s)) long. Any character outside the alphabet, a
// triple above 65535 or a trailing pair above 255 is rejected, so every byte
// string has exactly one accepted encoding.
func decodeBase45(dst []byte, s string) error {
	if base45DecodedLen(len(s)) != len(dst) {
		return errBase45
	}
	j := 0
	for i := 0; i < len(s); i += 3 {
		if len(s)-i == 2 {
			a, b := base45Value[s[i]], base45Value[s[i+1]]
			if a < 0 || b < 0 {
				return errBase45
			}
			n := int(a) + int(b)*45
			if n > 0xff {
				return errBase45
			}
			dst[j] = byte(n)
			return nil
		}
		a, b, c := base45Value[s[i]], base45Value[s[i+1]], base45Value[s[i+2]]
		if a < 0 || b < 0 || c < 0 {
			return errBase45
		}
		n := int(a) + int(b)*45 + int(c)*2025
		if n > 0xffff {
			return errBase45
		}
		dst[j], dst[j+1] = byte(n>>8), byte(n)
		j += 2
	}
	return nil
}
