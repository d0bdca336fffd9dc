package terminal

// Merchant is a participating merchant's profile, as the server pushes it to
// its terminals.
type Merchant struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Category Category `json:"category"`
	// Region is the administrative division code of the place of business.
	Region uint32 `json:"region"`
	// Blocked merchants (dishonesty list, found cashing out) may not redeem.
	Blocked bool `json:"blocked"`
	// Extra lists categories accepted beyond the merchant's own; nil means none.
	Extra []Category `json:"extra,omitempty"`
}

// Accepts reports whether the merchant takes vouchers of category c: its own
// category, any Extra, and love vouchers, which every participating merchant
// takes (interpretation in RULES.md: they pay down any bill).
func (m *Merchant) Accepts(c Category) bool {
	if c == m.Category || c == Love {
		return true
	}
	for _, x := range m.Extra {
		if x == c {
			return true
		}
	}
	return false
}
