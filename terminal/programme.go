package terminal

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// Category is a voucher category of the programme.
type Category uint8

// The programme's categories. The numbers are the category byte of the
// voucher code and never change.
const (
	Retail      Category = 1
	Fuel        Category = 2
	Appliance   Category = 3
	Hospitality Category = 4
	Love        Category = 5
)

var categoryCodes = [...]string{"", "retail", "fuel", "appliance", "hospitality", "love"}
var categoryNames = [...]string{"", "零售通用券", "加油券", "数码家电券", "住餐文旅券", "爱心消费券"}

// String returns the category's code ("retail"), or "category(N)".
func (c Category) String() string {
	if c.Valid() {
		return categoryCodes[c]
	}
	return fmt.Sprintf("category(%d)", uint8(c))
}

// Name returns the category's Chinese name ("零售通用券").
func (c Category) Name() string {
	if c.Valid() {
		return categoryNames[c]
	}
	return c.String()
}

// Valid reports whether c is one of the programme's categories.
func (c Category) Valid() bool { return c >= Retail && c <= Love }

// ParseCategory parses a category code ("retail", "fuel", "appliance",
// "hospitality", "love").
func ParseCategory(s string) (Category, error) {
	for i, code := range categoryCodes {
		if i > 0 && code == s {
			return Category(i), nil
		}
	}
	return 0, fmt.Errorf("unknown category %q (want retail, fuel, appliance, hospitality or love)", s)
}

// MarshalText encodes the category as its code; an unset or invalid
// category encodes as "".
func (c Category) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return []byte{}, nil
	}
	return []byte(c.String()), nil
}

// UnmarshalText decodes a category code; "" decodes as the unset category 0.
func (c *Category) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = 0
		return nil
	}
	v, err := ParseCategory(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Denomination is one "spend X, get Y off" voucher, or a love voucher's face value.
type Denomination struct {
	SpendFen Fen `json:"spend_fen,omitempty"`
	OffFen   Fen `json:"off_fen,omitempty"`
	ValueFen Fen `json:"value_fen,omitempty"`
}

// String prints "满¥200.00减¥40.00" or "¥1000.00".
func (d Denomination) String() string {
	if d.ValueFen > 0 {
		return "面值" + d.ValueFen.String()
	}
	return "满" + d.SpendFen.String() + "减" + d.OffFen.String()
}

// CategoryPlan is one category of the programme with its budget and denominations.
type CategoryPlan struct {
	Code          Category       `json:"code"`
	ID            int            `json:"id"`
	Name          string         `json:"name"`
	NameEN        string         `json:"name_en"`
	BudgetFen     Fen            `json:"budget_fen"`
	Denominations []Denomination `json:"denominations"`
	// PerHolder caps a holder's vouchers of this category in a round, of any
	// denomination; zero means only the per-denomination limit applies
	// (docs/issuing.md: the plan's appliance line).
	PerHolder int `json:"per_holder,omitempty"`
}

// Round is one release round of the programme.
type Round struct {
	Round int `json:"round"`
	// ID names the round in admin commands ("1"); voucherd round add uses it.
	ID            string         `json:"id"`
	From          string         `json:"from"`
	Until         string         `json:"until"`
	BudgetFen     Fen            `json:"budget_fen"`
	ByCategoryFen map[string]Fen `json:"by_category_fen,omitempty"`
	Note          string         `json:"note,omitempty"`
}

// Programme is the county's voucher plan as data (programme.json, taken from
// shared/seed and shared/spec/RULES.md).
type Programme struct {
	Name     string `json:"name"`
	Theme    string `json:"theme"`
	Source   string `json:"source"`
	Region   uint32 `json:"region"`
	Campaign uint32 `json:"campaign"`
	Period   struct {
		From  string `json:"from"`
		Until string `json:"until"`
	} `json:"period"`
	// Release is when drops open and claimed vouchers end, as "HH:MM" in Zone.
	Release struct {
		DailyAt    string `json:"daily_at"`
		ValidUntil string `json:"valid_until"`
	} `json:"release"`
	// Claims are the claim limits per holder and round.
	Claims struct {
		PerUserPerCycle int `json:"per_user_per_cycle"`
		PerDenomination int `json:"per_denomination"`
	} `json:"claims"`
	BudgetFen        Fen            `json:"budget_fen"`
	LovePerPersonFen Fen            `json:"love_per_person_fen"`
	Categories       []CategoryPlan `json:"categories"`
	Rounds           []Round        `json:"rounds"`
}

//go:embed programme.json
var programmeJSON []byte

// Qinshui2022 returns the embedded programme of Qinshui County's 2022 second
// phase. It panics only if the embedded file is broken, which a test rules out.
func Qinshui2022() *Programme {
	p, err := ParseProgramme(programmeJSON)
	if err != nil {
		panic("embedded programme.json: " + err.Error())
	}
	return p
}

// ParseProgramme decodes and checks a programme: categories known, budgets
// adding up, every denomination well-formed (off below spend, or a face value).
func ParseProgramme(b []byte) (*Programme, error) {
	var p Programme
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse programme: %w", err)
	}
	var sum Fen
	for _, c := range p.Categories {
		if !c.Code.Valid() || int(c.Code) != c.ID {
			return nil, fmt.Errorf("parse programme: category %q has id %d", c.Code, c.ID)
		}
		sum += c.BudgetFen
		for _, d := range c.Denominations {
			if err := d.check(c.Code); err != nil {
				return nil, fmt.Errorf("parse programme: %s: %w", c.Code, err)
			}
		}
	}
	if sum != p.BudgetFen {
		return nil, fmt.Errorf("parse programme: category budgets sum to %s, total is %s", sum, p.BudgetFen)
	}
	return &p, nil
}

func (d Denomination) check(c Category) error {
	if c == Love {
		if d.ValueFen <= 0 || d.SpendFen != 0 || d.OffFen != 0 || !d.ValueFen.Valid() {
			return fmt.Errorf("love denomination %+v: want a face value only", d)
		}
		return nil
	}
	if d.ValueFen != 0 || d.OffFen <= 0 || d.OffFen >= d.SpendFen || !d.SpendFen.Valid() {
		return fmt.Errorf("denomination %+v: want 0 < off < spend", d)
	}
	return nil
}

// Plan returns the plan of category c, or nil.
func (p *Programme) Plan(c Category) *CategoryPlan {
	for i := range p.Categories {
		if p.Categories[i].Code == c {
			return &p.Categories[i]
		}
	}
	return nil
}

// HasDenomination reports whether category c has denomination d.
func (p *Programme) HasDenomination(c Category, d Denomination) bool {
	plan := p.Plan(c)
	if plan == nil {
		return false
	}
	for _, x := range plan.Denominations {
		if x == d {
			return true
		}
	}
	return false
}
