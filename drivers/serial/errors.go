package serial

import "errors"

// ErrBadConfig is returned by Open when the configuration cannot work (no
// device, an unsupported baud rate, an unknown suffix or profile).
var ErrBadConfig = errors.New("serial: bad scanner configuration")

// ErrDisconnected is returned when a command is sent while the scanner is
// unplugged or not yet open.
var ErrDisconnected = errors.New("serial: scanner disconnected")

// ErrUnsupported is returned when the scanner's profile has no command for
// what was asked (a trigger or beep on a model that takes none).
var ErrUnsupported = errors.New("serial: command not supported by this scanner profile")

// ErrClosed is returned by Open on a Scanner that is already open or closed.
var ErrClosed = errors.New("serial: scanner already opened or closed")
