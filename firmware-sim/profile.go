package firmwaresim

import (
	"fmt"
	"strings"
)

// Profile is a scanner model's factory settings as the simulator plays them.
type Profile struct {
	// Name identifies the profile: honeywell, zebra or datalogic.
	Name string
	// Baud is the line speed the bytes are paced at.
	Baud int
	// Suffix is appended to every code: CR, LF, CRLF, TAB, ETX or none.
	Suffix string
	// NoRead is sent when a triggered read finds no code; empty means the
	// scanner stays silent.
	NoRead string
	// Commands maps the byte sequences the host may send to what they do:
	// "trigger on", "trigger off", "beep good", "beep bad", "enable".
	Commands map[string]string
}

// Honeywell is a Honeywell-like imager: 115200 8N1, CRLF, SYN T CR / SYN U
// CR serial trigger, ESC 7 , / ESC 8 , good and bad indications, "NR" on a
// failed triggered read.
func Honeywell() Profile {
	return Profile{Name: "honeywell", Baud: 115200, Suffix: "CRLF", NoRead: "NR",
		Commands: map[string]string{
			"\x16T\r": "trigger on", "\x16U\r": "trigger off",
			"\x1b7,": "beep good", "\x1b8,": "beep bad",
		}}
}

// Zebra is a Zebra-like scanner in RS-232 "data as is" mode: 9600 8N1, no
// suffix, SSI START_SESSION / STOP_SESSION / BEEP packets understood.
func Zebra() Profile {
	return Profile{Name: "zebra", Baud: 9600, Suffix: "none", NoRead: "NR",
		Commands: map[string]string{
			string(ssiPacket(0xE4)): "trigger on", string(ssiPacket(0xE5)): "trigger off",
			string(ssiPacket(0xE6, 0x00)): "beep good", string(ssiPacket(0xE6, 0x06)): "beep bad",
		}}
}

// Datalogic is a Datalogic-like handheld: 9600 8N1, CR, single-character
// host commands T, X, B, F (not on file) and E (enable).
func Datalogic() Profile {
	return Profile{Name: "datalogic", Baud: 9600, Suffix: "CR", NoRead: "%%NoRead",
		Commands: map[string]string{
			"T": "trigger on", "X": "trigger off", "B": "beep good", "F": "beep bad", "E": "enable",
		}}
}

// ProfileByName returns the profile called name.
func ProfileByName(name string) (Profile, error) {
	for _, p := range []Profile{Honeywell(), Zebra(), Datalogic()} {
		if strings.EqualFold(p.Name, name) {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q (want honeywell, zebra or datalogic)", name)
}

// SuffixBytes returns the bytes of a suffix name: CR, LF, CRLF, TAB, ETX or
// none, in any case; empty means none.
func SuffixBytes(name string) ([]byte, error) {
	switch strings.ToUpper(name) {
	case "CR":
		return []byte("\r"), nil
	case "LF":
		return []byte("\n"), nil
	case "CRLF":
		return []byte("\r\n"), nil
	case "TAB":
		return []byte("\t"), nil
	case "ETX":
		return []byte{etx}, nil
	case "NONE", "":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown suffix %q (want CR, LF, CRLF, TAB, ETX or none)", name)
}

// STX and ETX frame a code under the ETX suffix.
const (
	stx = 0x02
	etx = 0x03
)

// ssiPacket builds a Zebra SSI packet from the host (source 0x04). It is
// written again here, not imported from drivers/serial, on purpose: the
// simulator is the far end of the line, so a mistake in the driver's packet
// builder must not be copied into the device that checks it.
func ssiPacket(opcode byte, data ...byte) []byte {
	p := append([]byte{byte(4 + len(data)), opcode, 0x04, 0x00}, data...)
	var sum uint16
	for _, b := range p {
		sum += uint16(b)
	}
	sum = -sum
	return append(p, byte(sum>>8), byte(sum))
}
