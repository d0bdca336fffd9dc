package serial

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseFramerConfig reads a script's config line.
func parseFramerConfig(t *testing.T, fields []string) framerConfig {
	t.Helper()
	cfg := framerConfig{suffix: SuffixCRLF, maxLen: 2048, minLen: 1, gap: 250 * time.Millisecond, noRead: defaultNoRead}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "suffix":
			cfg.suffix, err = ParseSuffix(v)
		case "aim":
			cfg.aim = map[string]AIMMode{"auto": AIMAuto, "required": AIMRequired, "off": AIMOff}[v]
		case "prefix":
			cfg.prefix = v
		case "maxlen":
			cfg.maxLen, err = strconv.Atoi(v)
		case "minlen":
			cfg.minLen, err = strconv.Atoi(v)
		case "gap":
			cfg.gap, err = time.ParseDuration(v)
		case "noread":
			cfg.noRead = strings.Split(v, ",")
		default:
			t.Fatalf("unknown config key %q", k)
		}
		if err != nil {
			t.Fatalf("config %s: %v", f, err)
		}
	}
	return cfg
}

// TestFramer_Scripts runs the byte-exact scripts in testdata/frames (see
// its README).
func TestFramer_Scripts(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "frames", "*", "script.txt"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range dirs {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) { runScript(t, path) })
	}
}

func runScript(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fr *framer
	var out []frame
	now := time.Unix(0, 0)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(line, " ")
		if fr == nil && verb != "config" {
			fr = newFramer(parseFramerConfig(t, nil))
		}
		switch verb {
		case "config":
			fr = newFramer(parseFramerConfig(t, strings.Fields(rest)))
		case "send":
			b, err := strconv.Unquote(rest)
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			out = append(out, fr.push([]byte(b), now)...)
		case "wait":
			d, err := time.ParseDuration(rest)
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			now = now.Add(d)
			out = append(out, fr.idle(now)...)
		case "want":
			if len(out) == 0 {
				t.Fatalf("line %d: %s: no frame", n, line)
			}
			got := out[0]
			out = out[1:]
			checkFrame(t, n, rest, got)
		default:
			t.Fatalf("line %d: unknown verb %q", n, verb)
		}
	}
	if len(out) > 0 {
		t.Fatalf("frames left unchecked: %+v", out)
	}
}

// checkFrame compares a frame with a script's want line.
func checkFrame(t *testing.T, n int, want string, got frame) {
	t.Helper()
	kind, rest, _ := strings.Cut(want, " ")
	switch kind {
	case "code":
		sym, text, _ := strings.Cut(rest, " ")
		code, err := strconv.Unquote(text)
		if err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if sym == "-" {
			sym = ""
		}
		if got.kind != frameCode || got.code != code || got.symbology != sym {
			t.Fatalf("line %d: got %+v, want code %q %q", n, got, sym, code)
		}
	case "noread":
		if got.kind != frameNoRead {
			t.Fatalf("line %d: got %+v, want noread", n, got)
		}
	case "drop":
		if got.kind != frameDropped || !strings.Contains(got.reason, rest) {
			t.Fatalf("line %d: got %+v, want drop %q", n, got, rest)
		}
	default:
		t.Fatalf("line %d: unknown want %q", n, kind)
	}
}

// The scanner's reopen waits keep their defaults and their jitter (the
// upper half of each ceiling) through the tree's backoff helper.
func TestBackoff(t *testing.T) {
	half := func() float64 { return 0.5 }
	b := reopenBackoff(Backoff{Base: 10 * time.Millisecond, Cap: 80 * time.Millisecond, Rand: half}, nil)
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	want := []time.Duration{7500 * time.Microsecond, 15 * time.Millisecond, 30 * time.Millisecond,
		60 * time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != 7500*time.Microsecond {
		t.Fatalf("after Reset: %v", d)
	}
	b.Rand = func() float64 { return 0.999 }
	for range 50 {
		if d := b.Next(); d >= 80*time.Millisecond || d < 5*time.Millisecond {
			t.Fatalf("wait %v out of [Base/2, Cap)", d)
		}
	}
	zero := reopenBackoff(Backoff{}, nil)
	if d := zero.Next(); d < 25*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("zero Backoff first wait %v", d)
	}
}

func TestSSIPacket(t *testing.T) {
	// START_SESSION from the host: 04 E4 04 00, checksum FF 14.
	if got, want := ssiPacket(0xE4), []byte{0x04, 0xE4, 0x04, 0x00, 0xFF, 0x14}; string(got) != string(want) {
		t.Fatalf("got % X, want % X", got, want)
	}
}

func TestParseSuffix(t *testing.T) {
	for name, want := range map[string]Suffix{"cr": SuffixCR, "LF": SuffixLF, "CRLF": SuffixCRLF,
		"tab": SuffixTAB, "ETX": SuffixETX, "none": SuffixNone} {
		if got, err := ParseSuffix(name); err != nil || got != want || !strings.EqualFold(got.String(), name) {
			t.Fatalf("ParseSuffix(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := ParseSuffix("crlf2"); err == nil {
		t.Fatal("no error for a bad suffix")
	}
}
