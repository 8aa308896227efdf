package config

import (
	"strconv"
	"strings"
)

// redactedPassword stands in for a password, as url.URL.Redacted writes it.
const redactedPassword = "xxxxx"

// shownLength is how much of a bad value a message quotes.
const shownLength = 60

// RedactURL returns s with the password of its user information replaced by
// "xxxxx", keeping the scheme, the user name, the host and the rest. It works
// on the text, not on a parsed URL, so it also covers what url.Parse rejects
// or misreads: a URL without a scheme ("user:pw@host:1883"), a mistyped one
// ("mqtt//user:pw@host") or a password with an unencoded "/" or "@". Whatever
// stands between the first ":" after the scheme and the last "@" counts as
// the password, so a URL with an "@" in its path may lose more than its
// password, but the password never survives.
func RedactURL(s string) string {
	prefix, rest := "", s
	if scheme, after, ok := strings.Cut(s, "://"); ok && isScheme(scheme) {
		prefix, rest = scheme+"://", after
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return prefix + user + ":" + redactedPassword + rest[at:]
}

// isScheme reports whether s is a URL scheme: a letter followed by letters,
// digits, "+", "-" or ".".
func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// quote returns s quoted for a message, cut to its first shownLength
// characters.
func quote(s string) string { return strconv.Quote(cut(s)) }

// cut returns the first shownLength characters of s, marking a cut with "…".
func cut(s string) string {
	if r := []rune(s); len(r) > shownLength {
		return string(r[:shownLength]) + "…"
	}
	return s
}
