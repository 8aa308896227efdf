package bridge

import "log/slog"

// Secret holds a value that must never be shown by accident: an API token, a
// password or an invite code. Printing it with fmt, logging it with slog or
// encoding it as JSON yields "[redacted]"; Reveal returns the value itself.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value. Call it only where the value leaves the
// process on purpose: an Authorization header, an SMTP login, a code the user
// asked for.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String redacts the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the value for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the value in slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the value in JSON and other text encodings. Packages
// that must store a secret (the database) encode Reveal() explicitly.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
