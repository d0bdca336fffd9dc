// Package logging builds the binaries' structured loggers (log/slog) from
// their -log-format and -log-level flags, so posagent and voucherd log the
// same way: text for a person at a console, JSON for journald and log
// shippers.
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Flags are the logging flags of a command.
type Flags struct {
	Format, Level string
}

// Register adds -log-format and -log-level to fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Format, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.Level, "log-level", "info", "log level: debug, info, warn or error")
	return f
}

// New returns the logger f asks for, writing to w; the error names the
// bad flag.
func (f *Flags) New(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.Level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", f.Level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch f.Format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", f.Format)
}

// Printf adapts log to a printf-style logging hook (hub.Options.Logf):
// each line becomes an Info record with the formatted message.
func Printf(log *slog.Logger) func(format string, args ...any) {
	return func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }
}
