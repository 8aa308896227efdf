package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// DefaultTimeout bounds connecting to the SMTP server and each command.
const DefaultTimeout = 30 * time.Second

// Options tunes a Sender. The zero value is usable.
type Options struct {
	// Location is the time zone of dates in emails; nil means the system's.
	Location *time.Location
	// Logger receives one line per sent email; nil discards them.
	Logger *slog.Logger
	// TLSConfig verifies the server's certificate; nil uses the system's
	// roots. Tests pass one that trusts their self-signed certificate. It is
	// cloned; ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds connecting and each SMTP command; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Sender sends our emails over SMTP. It opens one connection per message,
// so it holds no connection between sends and needs no closing. It is safe
// for concurrent use.
type Sender struct {
	templates *Templates
	from      string
	host      string
	clientOpt []gomail.Option
	loc       *time.Location
	log       *slog.Logger
	// secrets are scrubbed from every error: the password, its URL-encoded
	// form and the whole URL.
	secrets []string
}

var _ bridge.Mailer = (*Sender)(nil)

// NewSender checks the SMTP URL and the sender address and prepares a
// Sender; it does not connect. The URL is one of
//
//	smtp://user:pass@host:587                     STARTTLS, required
//	smtp://host:25?starttls=optional              STARTTLS when offered, else plain
//	smtps://user:pass@host:465                    TLS from the first byte
//
// User and password are optional and URL-encoded ("p%40ss" for "p@ss").
// STARTTLS is required by default. starttls=optional allows a plain
// connection, but a password is only ever sent unencrypted to a server on
// this machine (localhost, 127.0.0.1, ::1): with credentials,
// starttls=optional is refused for other hosts. The port defaults to 587 for
// smtp and 465 for smtps. Errors wrap bridge.ErrInvalid and never contain the
// password.
func NewSender(smtpURL bridge.Secret, from string, t *Templates, opts Options) (*Sender, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: no email templates", bridge.ErrInvalid)
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("%w: SMTP_FROM %q is not an email address", bridge.ErrInvalid, from)
	}
	raw := smtpURL.Reveal()
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: SMTP_URL is not a URL; expected smtp://user:pass@host:587 or smtps://user:pass@host:465 (special characters in the password must be URL-encoded)", bridge.ErrInvalid)
	}
	host := u.Hostname()
	if host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%w: SMTP_URL must look like smtp://user:pass@host:587 or smtps://user:pass@host:465", bridge.ErrInvalid)
	}

	port := 587
	if u.Scheme == "smtps" {
		port = 465
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("%w: SMTP_URL port %q is not a port number", bridge.ErrInvalid, p)
		}
	}

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tlsConfig := &tls.Config{}
	if opts.TLSConfig != nil {
		tlsConfig = opts.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	clientOpt := []gomail.Option{
		gomail.WithPort(port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(tlsConfig),
	}

	query := u.Query()
	starttls := query.Get("starttls")
	for key := range query {
		if key != "starttls" {
			return nil, fmt.Errorf("%w: SMTP_URL option %q is unknown; the only option is starttls=optional", bridge.ErrInvalid, key)
		}
	}
	switch {
	case u.Scheme == "smtps" && starttls != "":
		return nil, fmt.Errorf("%w: SMTP_URL: starttls does not apply to smtps://, which is encrypted from the start", bridge.ErrInvalid)
	case u.Scheme == "smtps":
		clientOpt = append(clientOpt, gomail.WithSSL())
	case starttls == "" || starttls == "required":
		clientOpt = append(clientOpt, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case starttls == "optional":
		if u.User != nil && !isLoopback(host) {
			return nil, fmt.Errorf("%w: SMTP_URL: starttls=optional would send the password unencrypted to %s; it is only allowed for localhost", bridge.ErrInvalid, host)
		}
		clientOpt = append(clientOpt, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		return nil, fmt.Errorf("%w: SMTP_URL: starttls=%q is unknown; use starttls=optional or leave it out", bridge.ErrInvalid, starttls)
	}

	s := &Sender{templates: t, from: from, host: host, loc: opts.Location, log: opts.Logger, secrets: []string{raw}}
	if u.User != nil {
		password, _ := u.User.Password()
		clientOpt = append(clientOpt,
			gomail.WithUsername(u.User.Username()),
			gomail.WithPassword(password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5))
		if password != "" {
			s.secrets = append(s.secrets, password, url.QueryEscape(password), url.PathEscape(password))
		}
	}
	s.clientOpt = clientOpt
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "mail")

	// Try the options once, so a bad combination is reported now.
	if _, err := gomail.NewClient(host, clientOpt...); err != nil {
		return nil, fmt.Errorf("%w: SMTP_URL: %s", bridge.ErrInvalid, s.scrub(err.Error(), ""))
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send renders m and sends it as one multipart/alternative email (plain text
// and HTML). It returns nil once the server accepted the message; a failure
// to say goodbye afterwards is only logged. Errors never contain the
// password or the invite code, and show the recipient masked. A bad
// recipient or template wraps bridge.ErrInvalid.
func (s *Sender) Send(ctx context.Context, m bridge.Message) error {
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("%w: %q is not an email address", bridge.ErrInvalid, maskAddress(m.To))
	}
	r, err := s.templates.Render(m, s.loc)
	if err != nil {
		return s.fail(fmt.Errorf("%s email: %w", m.Kind, err), m)
	}

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("%w: SMTP_FROM: %v", bridge.ErrInvalid, err)
	}
	recipient := netmail.Address{Name: m.Name, Address: to.Address}
	if err := msg.To(recipient.String()); err != nil {
		return s.fail(fmt.Errorf("%w: recipient: %v", bridge.ErrInvalid, err), m)
	}
	msg.Subject(r.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("nuki-invites")
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, r.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, r.HTML)

	client, err := gomail.NewClient(s.host, s.clientOpt...)
	if err != nil {
		return s.fail(fmt.Errorf("send %s email: %w", m.Kind, err), m)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.fail(fmt.Errorf("send %s email: connect to %s: %w", m.Kind, s.host, err), m)
	}
	sendErr := client.SendWithSMTPClient(conn, msg)
	closeErr := client.CloseWithSMTPClient(conn)
	if sendErr != nil {
		return s.fail(fmt.Errorf("send %s email via %s: %w", m.Kind, s.host, sendErr), m)
	}
	domain := to.Address[strings.LastIndexByte(to.Address, '@')+1:]
	if closeErr != nil {
		s.log.Warn("email accepted, closing the SMTP connection failed",
			"kind", m.Kind, "to_domain", domain, "err", s.scrub(closeErr.Error(), m.Code.Reveal()))
	}
	s.log.Info("email sent", "kind", m.Kind, "to_domain", domain, "language", r.Language)
	return nil
}

// fail returns err with every secret scrubbed from its message: the SMTP
// password and URL, the invite code, and the full recipient address.
func (s *Sender) fail(err error, m bridge.Message) error {
	msg := s.scrub(err.Error(), m.Code.Reveal())
	if m.To != "" {
		msg = strings.ReplaceAll(msg, m.To, maskAddress(m.To))
	}
	return &scrubbedError{msg: msg, err: err}
}

// scrub replaces the secrets and code in text with "[redacted]".
func (s *Sender) scrub(text, code string) string {
	secrets := s.secrets
	if code != "" {
		secrets = append(secrets[:len(secrets):len(secrets)], code, strings.ReplaceAll(code, " ", ""))
	}
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return text
}

// scrubbedError shows a cleaned message but keeps the original error for
// errors.Is and errors.As (context.Canceled, *gomail.SendError and the like).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
