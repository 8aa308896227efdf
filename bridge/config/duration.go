package config

import (
	"errors"
	"strings"
	"time"
)

// DurationOrOff is a duration that can be switched off, as
// KEYPAD_CLEANUP_AFTER takes it: a Go duration such as 24h or 1h30m, or 0 or
// "off" (in any case). Its zero value is off.
type DurationOrOff time.Duration

// errNotDurationOrOff is UnmarshalText's error; Parse reports the variable
// and its value instead.
var errNotDurationOrOff = errors.New("neither a duration nor off")

// UnmarshalText reads a duration, or 0 or off, with surrounding blanks
// ignored.
func (d *DurationOrOff) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if strings.EqualFold(s, "off") {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errNotDurationOrOff
	}
	*d = DurationOrOff(v)
	return nil
}

// Off reports whether d is switched off.
func (d DurationOrOff) Off() bool { return d == 0 }

// String returns "off", or the duration as time.Duration writes it.
func (d DurationOrOff) String() string {
	if d.Off() {
		return "off"
	}
	return time.Duration(d).String()
}
