package mailtest_test

import (
	"context"
	"crypto/tls"
	"net/smtp"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge/mail/mailtest"
)

// A hand-written message with a base64 text part and a quoted-printable HTML
// part, nested in multipart/mixed, as other mailers send them.
const rawMessage = "From: Door <door@example.com>\r\n" +
	"To: =?utf-8?q?J=C3=BCrgen?= <juergen@example.com>\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Wien\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"RGVpbiBDb2RlOiAxMjMgNDU2IDc4OQpHcsO8w59lIQ==\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<p>Gr=C3=BC=C3=9Fe, <b>J=C3=BCrgen</b></p>\r\n" +
	"--inner--\r\n" +
	"--outer--\r\n"

func send(t *testing.T, srv *mailtest.Server, auth smtp.Auth) error {
	t.Helper()
	c, err := smtp.Dial(srv.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if cfg := srv.ClientTLSConfig(); cfg != nil {
		cfg.ServerName = "127.0.0.1"
		if err := c.StartTLS(cfg); err != nil {
			return err
		}
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.Mail("door@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt("juergen@example.com"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(rawMessage)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func TestServerDecodesMessages(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth("user", "pw"))
	if err := send(t, srv, smtp.PlainAuth("", "user", "pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	m := msgs[0]
	checks := map[string][2]string{
		"From":    {m.From, "door@example.com"},
		"Rcpt":    {strings.Join(m.Rcpt, ","), "juergen@example.com"},
		"To":      {strings.Join(m.To, ","), "juergen@example.com"},
		"ToNames": {strings.Join(m.ToNames, ","), "Jürgen"},
		"Subject": {m.Subject, "Grüße aus Wien"},
		"Text":    {m.Text, "Dein Code: 123 456 789\nGrüße!"},
		"HTML":    {strings.TrimSpace(m.HTML), "<p>Grüße, <b>Jürgen</b></p>"},
	}
	for field, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", field, c[0], c[1])
		}
	}
}

func TestServerRefusesWrongLoginAndRejectedRecipients(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth("user", "pw"))
	if err := send(t, srv, smtp.PlainAuth("", "user", "wrong", "127.0.0.1")); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: err = %v, want 535", err)
	}
	if err := send(t, srv, nil); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("no login: err = %v, want 530", err)
	}
	srv.Reject("mailbox full")
	if err := send(t, srv, smtp.PlainAuth("", "user", "pw", "127.0.0.1")); err == nil || !strings.Contains(err.Error(), "mailbox full") {
		t.Errorf("rejected: err = %v, want the rejection", err)
	}
	srv.Reject("")
	if err := send(t, srv, smtp.PlainAuth("", "user", "pw", "127.0.0.1")); err != nil {
		t.Errorf("after Reject(\"\"): %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("got %d messages, want 1", n)
	}
}

func TestServerWaitsForBackgroundMail(t *testing.T) {
	srv := mailtest.Start(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- send(t, srv, nil) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := srv.Wait(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Errorf("Wait returned %d messages", len(msgs))
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := srv.Wait(short, 3); err == nil || !strings.Contains(err.Error(), "2 of 3") {
		t.Errorf("Wait on a cancelled context: err = %v", err)
	}
}

func TestServerURL(t *testing.T) {
	tests := []struct {
		name       string
		opts       []mailtest.Option
		scheme     string
		query      string
		user       string
		tlsTrusted bool
	}{
		{"plain", nil, "smtp", "starttls=optional", "", false},
		{"starttls with login", []mailtest.Option{mailtest.WithSTARTTLS(), mailtest.WithAuth("u@example.com", "p:w")}, "smtp", "", "u@example.com", true},
		{"implicit tls", []mailtest.Option{mailtest.WithImplicitTLS()}, "smtps", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts...)
			u, err := url.Parse(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != tc.scheme || u.RawQuery != tc.query || u.Host != srv.Addr || u.User.Username() != tc.user {
				t.Errorf("URL() = %s", srv.URL())
			}
			if p, _ := u.User.Password(); p != srv.Password {
				t.Errorf("URL password = %q, want %q", p, srv.Password)
			}
			cfg := srv.ClientTLSConfig()
			if (cfg != nil) != tc.tlsTrusted {
				t.Fatalf("ClientTLSConfig() = %v", cfg)
			}
			if tc.scheme == "smtps" {
				conn, err := tls.Dial("tcp", srv.Addr, cfg)
				if err != nil {
					t.Fatalf("TLS handshake with the trusted config: %v", err)
				}
				conn.Close()
			}
		})
	}
}
