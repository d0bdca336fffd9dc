package terminal

import "fmt"

// Item categories that never count toward a voucher's minimum spend: stored
// value and prepaid cards (the plan forbids topping them up with vouchers).
const (
	StoredValueCard = "stored_value_card"
	PrepaidCard     = "prepaid_card"
)

// MaxQty is the largest quantity of one basket line the terminal accepts.
const MaxQty = 100_000

// MaxItems is the largest number of lines in one basket.
const MaxItems = 1000

// Item is one line of the itemised basket.
type Item struct {
	SKU          string `json:"sku"`
	Name         string `json:"name"`
	Category     string `json:"category"`
	Qty          int64  `json:"qty"`
	UnitPriceFen Fen    `json:"unit_price_fen"`
}

// Eligible reports whether the item counts toward a voucher's minimum spend.
func (it *Item) Eligible() bool {
	return it.Category != StoredValueCard && it.Category != PrepaidCard
}

// Amount returns qty × unit price, or ErrAmount.
func (it *Item) Amount() (Fen, error) { return it.UnitPriceFen.Mul(it.Qty) }

// CheckItems validates a basket as a till submits it: 1..MaxItems lines,
// quantities 1..MaxQty, prices 0..MaxFen, and a total within MaxFen. A
// basket with no line or a line of quantity 0 is not a sale; zero prices
// (a free gift) pass here, and a voucher applied to them is declined
// empty_transaction.
func CheckItems(items []Item) error {
	_, _, err := checkItems(items)
	return err
}

// checkItems is CheckItems, also returning the basket's total and eligible
// amounts.
func checkItems(items []Item) (total, eligible Fen, err error) {
	if len(items) == 0 || len(items) > MaxItems {
		return 0, 0, fmt.Errorf("basket has %d lines, want 1..%d", len(items), MaxItems)
	}
	prices := make(map[string]Fen, len(items))
	for i := range items {
		it := &items[i]
		if it.SKU == "" || len(it.SKU) > 64 || len(it.Name) > 200 || len(it.Category) > 64 {
			return 0, 0, fmt.Errorf("item %d: sku must be 1..64 bytes, name at most 200, category at most 64", i+1)
		}
		if p, ok := prices[it.SKU]; ok && p != it.UnitPriceFen {
			return 0, 0, fmt.Errorf("item %d (%s): same sku at two prices", i+1, it.SKU)
		}
		prices[it.SKU] = it.UnitPriceFen
		if it.Qty < 1 || it.Qty > MaxQty {
			return 0, 0, fmt.Errorf("item %d (%s): quantity %d outside 1..%d", i+1, it.SKU, it.Qty, MaxQty)
		}
		if !it.UnitPriceFen.Valid() {
			return 0, 0, fmt.Errorf("item %d (%s): unit price %d fen outside 0..%d", i+1, it.SKU, it.UnitPriceFen, MaxFen)
		}
		a, err := it.Amount()
		if err != nil {
			return 0, 0, fmt.Errorf("item %d (%s): amount: %w", i+1, it.SKU, err)
		}
		if total, err = total.Add(a); err != nil {
			return 0, 0, fmt.Errorf("basket total: %w", err)
		}
		if it.Eligible() {
			eligible += a // at most total
		}
	}
	return total, eligible, nil
}

// Totals returns the basket's total and eligible amounts. It declines
// empty_transaction for a basket with no lines, a line whose quantity or
// price is not positive, a total that is not positive, or no eligible amount.
func Totals(items []Item) (total, eligible Fen, decline *Error) {
	if len(items) == 0 {
		return 0, 0, Errorf(EmptyTransaction, "no items")
	}
	if len(items) > MaxItems {
		return 0, 0, Errorf(EmptyTransaction, "%d lines", len(items))
	}
	for i := range items {
		it := &items[i]
		if it.Qty <= 0 || it.UnitPriceFen <= 0 || it.Qty > MaxQty || it.UnitPriceFen > MaxFen {
			return 0, 0, Errorf(EmptyTransaction, "item %d (%s): quantity %d, price %d fen", i+1, it.SKU, it.Qty, it.UnitPriceFen)
		}
		a := it.UnitPriceFen * Fen(it.Qty) // < 2^63: both bounded above
		var err error
		if total, err = total.Add(a); err != nil {
			return 0, 0, Errorf(EmptyTransaction, "total over %s", MaxFen)
		}
		if it.Eligible() {
			eligible += a
		}
	}
	if eligible <= 0 {
		return total, 0, Errorf(EmptyTransaction, "no eligible items (only stored-value or prepaid cards)")
	}
	return total, eligible, nil
}
