// Package mail sends the emails of nuki-invites over SMTP: the guest's
// invite, the reminder before the code expires, the re-sent invite, the
// admin's digest of invitations not redeemed yet, and a guest's keypad code
// with its window. It implements bridge.Mailer.
//
// # Templates
//
// Each kind of email (invite, reminder, resend, digest, keypad_code) is a
// template of three files: a one-line subject and a plain-text part, both
// executed with text/template, and an HTML part executed with html/template,
// which escapes every value (a guest called <b>Bob</b> stays text). English (en) and German
// (de) are built in. TEMPLATE_DIR may override any of them file by file and
// add languages, in the same layout as the built-in ones:
//
//	TEMPLATE_DIR/
//	  en/
//	    invite.subject.txt    subject line
//	    invite.txt            plain-text part
//	    invite.html           HTML part
//	    reminder.subject.txt  … and so on for reminder, resend, digest, keypad_code
//	  de/
//	    invite.txt            replaces only the built-in German text part
//	  fr/
//	    invite.subject.txt    a new language: all three files of each kind
//	    invite.txt            it provides; the other kinds fall back to
//	    invite.html           English
//
// A message in language "de-AT" uses de-at, then de, then en. Every template
// sees a Data value; the fields are documented there: {{.Name}}, {{.Lock}},
// {{.Code}}, {{.Expires}} (written out in German for de, in English
// otherwise, in TIME_ZONE), {{.ExpiresAt}}, {{.Validity}}, {{.AppStoreURL}},
// {{.PlayStoreURL}} and, for the digest, {{range .Invitations}} with
// {{.Guest}}, {{.Email}}, {{.Lock}}, {{.Expires}}, {{.StatusText}}; for a
// keypad code, {{.Window.From}}, {{.Window.Until}}, {{.Window.Days}},
// {{.Window.DailyFrom}} and {{.Window.DailyUntil}}, in the guest's time zone
// when the code was given one.
// A subject is folded into one line.
//
// LoadTemplates parses every template at start-up and executes it once with
// sample data, so a typo fails the start with the file's path and line, e.g.
// "template: /config/templates/de/invite.txt:3: unexpected "}" in operand".
// Preview renders a template with sample data for `nuki-invites template
// preview`.
//
// # Sending
//
// NewSender takes SMTP_URL: smtp://user:pass@host:587 (STARTTLS, required),
// smtps://user:pass@host:465 (implicit TLS) or, for a relay on this machine,
// smtp://localhost:25?starttls=optional. Send opens one connection per email
// and returns once the server accepted it. Neither errors nor log lines ever
// contain the SMTP password or an invite code; logs name only the
// recipient's domain and errors show the address masked (a***@example.com).
//
// The subpackage mailtest runs an SMTP server inside a test process for
// end-to-end tests.
package mail
