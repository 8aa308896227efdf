package bridge

import (
	"context"
	"time"
)

// MessageKind names one of the email templates.
type MessageKind string

// The email templates.
const (
	MessageInvite   MessageKind = "invite"
	MessageReminder MessageKind = "reminder"
	MessageResend   MessageKind = "resend"
	MessageDigest   MessageKind = "digest" // the admin's reminder digest
	// MessageKeypadCode hands a keypad code to the guest, with its window
	// and how to use the keypad.
	MessageKeypadCode MessageKind = "keypad_code"
)

// Message is one email of ours. The Mailer renders it with the template of
// its Kind in its Language (falling back to English).
type Message struct {
	Kind     MessageKind
	To       string
	Name     string // the guest's name (the admin's digest: empty)
	Language string
	// TimeZone is the guest's IANA time zone for the times shown; "" is
	// the configured one.
	TimeZone  string
	Lock      string
	Code      Secret
	ExpiresAt time.Time
	// Access is a keypad code's window (zero for other messages).
	Access Access
	// Invitations lists what a digest is about; empty otherwise.
	Invitations []Invitation
}

// Mailer sends our own emails. Send returns nil once the SMTP server accepted
// the message.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}
