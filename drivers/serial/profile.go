package serial

import (
	"fmt"
	"strings"
)

// Suffix is the byte sequence a scanner appends to every code.
type Suffix int

// Suffixes a scanner can be configured with. Whatever the suffix, the
// framer also ends a frame at CR or LF, so CR/LF mixtures are tolerated.
const (
	// SuffixDefault takes the profile's suffix.
	SuffixDefault Suffix = iota
	// SuffixNone means the scanner sends codes "as is"; frames end at an
	// idle gap on the line.
	SuffixNone
	SuffixCR
	SuffixLF
	SuffixCRLF
	SuffixTAB
	// SuffixETX is ETX (0x03); a leading STX (0x02) is stripped.
	SuffixETX
)

var suffixNames = map[Suffix]string{
	SuffixDefault: "default", SuffixNone: "none", SuffixCR: "CR", SuffixLF: "LF",
	SuffixCRLF: "CRLF", SuffixTAB: "TAB", SuffixETX: "ETX",
}

// String returns the suffix's name as ParseSuffix accepts it.
func (s Suffix) String() string {
	if n, ok := suffixNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Suffix(%d)", int(s))
}

// ParseSuffix reads a suffix name: CR, LF, CRLF, TAB, ETX or none
// (case-insensitive).
func ParseSuffix(name string) (Suffix, error) {
	for s, n := range suffixNames {
		if s != SuffixDefault && strings.EqualFold(n, name) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown suffix %q (want CR, LF, CRLF, TAB, ETX or none)", ErrBadConfig, name)
}

// terminator reports whether c ends a frame under suffix s.
func (s Suffix) terminator(c byte) bool {
	switch c {
	case '\r', '\n':
		return true
	case '\t':
		return s == SuffixTAB
	case etx:
		return s == SuffixETX
	}
	return false
}

// AIMMode says what the framer does with AIM symbology identifiers
// ("]Q1": a ']', a code letter and a modifier character) at the start of a
// code.
type AIMMode int

// AIM modes.
const (
	// AIMAuto strips an identifier when one is present.
	AIMAuto AIMMode = iota
	// AIMRequired drops frames that do not start with an identifier; use it
	// when the scanner is set to send one, as it rejects stray text.
	AIMRequired
	// AIMOff keeps a leading "]Xn" as part of the code.
	AIMOff
)

// Profile is what the driver knows about a scanner model: its factory
// serial settings and the commands the host may send it. Add a model by
// writing one more Profile (see docs/scanner.md).
type Profile struct {
	// Name identifies the profile ("honeywell").
	Name string
	// Baud is the factory baud rate; zero means 9600.
	Baud int
	// Suffix is the factory suffix; zero means SuffixNone.
	Suffix Suffix
	// NoRead lists the messages the scanner sends when a triggered read
	// fails; nil means "NR" and "%%NoRead".
	NoRead []string
	// TriggerOn and TriggerOff start and stop a read; nil means the model
	// has no serial trigger.
	TriggerOn, TriggerOff []byte
	// GoodBeep and BadBeep make the scanner signal an accepted or a
	// declined code; nil means the model cannot be told.
	GoodBeep, BadBeep []byte
}

// defaultNoRead are the no-read messages recognised when a profile names none.
var defaultNoRead = []string{"NR", "%%NoRead"}

// Control characters used by scanner protocols.
const (
	stx = 0x02
	etx = 0x03
	esc = 0x1b
	syn = 0x16
)

// HoneywellProfile is a Honeywell Xenon/Granit/Voyager imager on RS-232 or
// USB serial: 115200 8N1, CRLF suffix. Serial trigger SYN T CR / SYN U CR
// (trigger mode "manual/serial"); beeps by the host escape commands
// ESC 7 , (good read indication) and ESC 8 , (error indication).
func HoneywellProfile() Profile {
	return Profile{
		Name: "honeywell", Baud: 115200, Suffix: SuffixCRLF, NoRead: []string{"NR"},
		TriggerOn: []byte{syn, 'T', '\r'}, TriggerOff: []byte{syn, 'U', '\r'},
		GoodBeep: []byte{esc, '7', ','}, BadBeep: []byte{esc, '8', ','},
	}
}

// ZebraProfile is a Zebra (Symbol) scanner on RS-232: 9600 8N1, data sent
// "as is" with no suffix. Commands are SSI packets: START_SESSION (0xE4),
// STOP_SESSION (0xE5) and BEEP (0xE6, beep code 0x00 one short high tone for
// good, 0x06 two short low tones for bad).
func ZebraProfile() Profile {
	return Profile{
		Name: "zebra", Baud: 9600, Suffix: SuffixNone, NoRead: []string{"NR"},
		TriggerOn: ssiPacket(0xE4), TriggerOff: ssiPacket(0xE5),
		GoodBeep: ssiPacket(0xE6, 0x00), BadBeep: ssiPacket(0xE6, 0x06),
	}
}

// DatalogicProfile is a Datalogic handheld on RS-232: 9600 8N1, CR suffix.
// Single-character host commands: T (software trigger pull), X (trigger
// release), B (good read tone), F then E (not-on-file tone, which disables
// the scanner, then enable it again).
func DatalogicProfile() Profile {
	return Profile{
		Name: "datalogic", Baud: 9600, Suffix: SuffixCR, NoRead: []string{"%%NoRead", "NR"},
		TriggerOn: []byte("T"), TriggerOff: []byte("X"),
		GoodBeep: []byte("B"), BadBeep: []byte("FE"),
	}
}

// GenericProfile is an unknown scanner: 9600 8N1, frames ended by CR, LF or
// an idle gap, and no host commands.
func GenericProfile() Profile {
	return Profile{Name: "generic", Baud: 9600, Suffix: SuffixNone}
}

// ProfileByName returns the profile called name: honeywell, zebra,
// datalogic or generic.
func ProfileByName(name string) (Profile, error) {
	for _, p := range []Profile{HoneywellProfile(), ZebraProfile(), DatalogicProfile(), GenericProfile()} {
		if strings.EqualFold(p.Name, name) {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("%w: unknown scanner profile %q (want honeywell, zebra, datalogic or generic)", ErrBadConfig, name)
}

// ssiPacket builds a Zebra SSI packet from the host: length, opcode, source
// 0x04 (host), status 0x00, data, and the two's complement 16-bit checksum
// of everything before it, high byte first.
func ssiPacket(opcode byte, data ...byte) []byte {
	p := append([]byte{byte(4 + len(data)), opcode, 0x04, 0x00}, data...)
	var sum uint16
	for _, b := range p {
		sum += uint16(b)
	}
	sum = -sum
	return append(p, byte(sum>>8), byte(sum))
}
