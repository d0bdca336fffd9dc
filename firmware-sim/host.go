package firmwaresim

import (
	"bytes"
	"errors"
	"strconv"
)

// listen reads what the host sends to the scanner until the device is
// unplugged, and acts on the commands it understands.
func (s *Sim) listen(dev *device) {
	defer s.wg.Done()
	buf := make([]byte, 256)
	var pend []byte
	for {
		n, err := dev.master.Read(buf)
		if err != nil {
			return // closed by Unplug, or EIO
		}
		pend = s.commands(append(pend, buf[:n]...))
	}
}

// commands acts on the complete commands at the start of pend and returns
// what is left: the start of a command still arriving.
func (s *Sim) commands(pend []byte) []byte {
	for len(pend) > 0 {
		matched, partial := "", false
		for seq := range s.cfg.Profile.Commands {
			switch {
			case bytes.HasPrefix(pend, []byte(seq)):
				matched = seq
			case bytes.HasPrefix([]byte(seq), pend):
				partial = true
			}
		}
		switch {
		case matched != "":
			s.command(s.cfg.Profile.Commands[matched])
			pend = pend[len(matched):]
		case partial:
			return pend
		default:
			s.log.Debug("unknown host byte", "byte", strconv.QuoteToASCII(string(pend[:1])))
			s.notify("unknown")
			pend = pend[1:]
		}
	}
	return pend
}

// command does what a host command asks.
func (s *Sim) command(name string) {
	s.log.Debug("host command", "command", name)
	s.notify(name)
	if name != "trigger on" {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := s.PullTrigger(); err != nil && !errors.Is(err, ErrNoRead) {
			s.log.Debug("triggered read", "err", err)
		}
	}()
}

// notify tells OnCommand.
func (s *Sim) notify(name string) {
	if s.cfg.OnCommand != nil {
		s.cfg.OnCommand(name)
	}
}
