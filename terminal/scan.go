package terminal

import (
	"context"
	"time"
)

// Scan is one code read by a scanner (or decoded from an image), as the
// driver delivers it to the agent.
type Scan struct {
	// Code is the decoded text the symbol carries, without prefix, suffix or
	// AIM symbology identifier.
	Code string
	// Symbology is the AIM symbology identifier ("]Q1"), or "" if the scanner
	// sent none.
	Symbology string
	// At is when the driver framed the code (its last byte arrived).
	At time.Time
	// Source names the device ("/dev/ttyACM0", "image").
	Source string
}

// ScannerState is the connection state of a scanner as reported to the agent.
type ScannerState string

// Scanner states.
const (
	ScannerConnected    ScannerState = "connected"
	ScannerDisconnected ScannerState = "disconnected"
)

// Feedback is what the agent asks the scanner to signal to the cashier.
type Feedback int

// Feedback values.
const (
	GoodRead Feedback = iota + 1
	BadRead
)

// CodeSource delivers scans. Implemented by drivers/serial.
type CodeSource interface {
	// Scans delivers each code once; the channel closes when the source stops.
	Scans() <-chan Scan
	// Beep signals the cashier a good or a bad read.
	Beep(ctx context.Context, f Feedback) error
}
