package boltstore

// SetFilterMinBits makes the voucher filters opened from now on start with
// bits bits (a power of two, at least 64) and returns what restores the default.
func SetFilterMinBits(bits int) (restore func()) {
	old := filterMinBits
	filterMinBits = bits
	return func() { filterMinBits = old }
}
