package terminal

import (
	"context"
	"time"
)

// EventKind names a lane event.
type EventKind string

// Lane event kinds.
const (
	EventOpened    EventKind = "opened"
	EventApproved  EventKind = "approved"
	EventDeclined  EventKind = "declined"
	EventCompleted EventKind = "completed"
	EventCancelled EventKind = "cancelled"
	EventRefunded  EventKind = "refunded"
)

// LaneEvent is what the screens see of the lane.
type LaneEvent struct {
	Kind EventKind `json:"kind"`
	At   time.Time `json:"at"`
	// Source is "scanner" or "api" for a voucher, empty otherwise.
	Source string `json:"source,omitempty"`
	// ScannedAt is when the scanner framed the code (zero for the API).
	ScannedAt time.Time `json:"scanned_at,omitzero"`
	// Checkout is a snapshot of the lane's checkout, nil for a scan with none open.
	Checkout *Checkout `json:"checkout,omitempty"`
	// Decline is set on EventDeclined.
	Decline *Error `json:"decline,omitempty"`
	// Online is true when the server authorised the voucher.
	Online bool `json:"online,omitempty"`
	// Record is the committed record on EventCompleted and EventRefunded.
	Record *Redemption `json:"record,omitempty"`
}

// Feedback returns the read feedback the cashier gets for ev: a good read
// for an approved voucher, a bad one for a declined voucher or scan; false
// for the events that do not beep.
func (ev *LaneEvent) Feedback() (Feedback, bool) {
	switch ev.Kind {
	case EventApproved:
		return GoodRead, true
	case EventDeclined:
		return BadRead, true
	}
	return 0, false
}

// Beeper signals the cashier a good or bad read. CodeSource implements it.
type Beeper interface {
	Beep(ctx context.Context, f Feedback) error
}

// emit passes ev to OnEvent; l.mu is held.
func (l *Lane) emit(ev LaneEvent) {
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(ev)
	}
}

// done ends an operation that published ev: it lets go of l.op and then
// beeps ev's feedback. The beep turn is taken before l.op is released, so
// beeps keep the order of their operations while the next operation
// already runs; neither of the lane's locks is held during the beep.
func (l *Lane) done(ctx context.Context, ev LaneEvent) {
	f, ok := ev.Feedback()
	if !ok || l.cfg.Beeper == nil {
		l.op.Unlock()
		return
	}
	l.beep.Lock()
	l.op.Unlock()
	defer l.beep.Unlock()
	if err := l.cfg.Beeper.Beep(ctx, f); err != nil {
		l.report("beep", err)
	}
}
