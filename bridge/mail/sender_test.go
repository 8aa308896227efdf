package mail

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/mail/mailtest"
)

const (
	smtpUser     = "bridge@example.com"
	smtpPassword = "S3cret-p@ss:word"
)

func newSender(t *testing.T, smtpURL string, srv *mailtest.Server, logs *bridgetest.Logs) *Sender {
	t.Helper()
	opts := Options{Location: berlin(t), Timeout: 10 * time.Second}
	if srv != nil {
		opts.TLSConfig = srv.ClientTLSConfig()
	}
	if logs != nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := NewSender(bridge.Secret(smtpURL), "Front door <door@example.com>", mustLoad(t, ""), opts)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

func TestSendDeliversWhatTheGuestSees(t *testing.T) {
	tests := []struct {
		name string
		opts []mailtest.Option
	}{
		{"plain localhost with AUTH PLAIN", []mailtest.Option{mailtest.WithAuth(smtpUser, smtpPassword)}},
		{"STARTTLS with AUTH PLAIN", []mailtest.Option{mailtest.WithSTARTTLS(), mailtest.WithAuth(smtpUser, smtpPassword)}},
		{"implicit TLS with AUTH PLAIN", []mailtest.Option{mailtest.WithImplicitTLS(), mailtest.WithAuth(smtpUser, smtpPassword)}},
		{"plain localhost without login", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts...)
			logs := &bridgetest.Logs{}
			s := newSender(t, srv.URL(), srv, logs)
			m := invite(bridge.MessageInvite, "de")
			m.To = "alice@example.org"
			m.Name = "Alice Müller"
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if strings.Join(got.To, ",") != "alice@example.org" || strings.Join(got.ToNames, ",") != "Alice Müller" {
				t.Errorf("To = %v %v", got.To, got.ToNames)
			}
			if got.From != "door@example.com" {
				t.Errorf("envelope from = %q", got.From)
			}
			if got.Subject != "Deine Einladung für Front door" {
				t.Errorf("subject = %q", got.Subject)
			}
			if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
				t.Errorf("Content-Type = %q, want multipart/alternative", ct)
			}
			for _, want := range []string{"Hallo Alice Müller", "987654321", "Freitag, 13. März 2026, 18:30 Uhr (MEZ)"} {
				if !strings.Contains(got.Text, want) {
					t.Errorf("text part lacks %q:\n%s", want, got.Text)
				}
				if !strings.Contains(got.HTML, want) {
					t.Errorf("HTML part lacks %q:\n%s", want, got.HTML)
				}
			}
			out := logs.String()
			if !strings.Contains(out, "email sent") || !strings.Contains(out, "to_domain=example.org") {
				t.Errorf("log lacks the sent line:\n%s", out)
			}
			for _, secret := range []string{"987654321", "alice@", smtpPassword} {
				if strings.Contains(out, secret) {
					t.Errorf("log shows %q:\n%s", secret, out)
				}
			}
		})
	}
}

func TestSendFallbackAndEscaping(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, srv.URL(), srv, nil)
	m := invite(bridge.MessageReminder, "fr")
	m.Name = "<b>Bob</b>"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	if got.Subject != "Reminder: your invite code for Front door expires soon" {
		t.Errorf("subject = %q, want the English one", got.Subject)
	}
	if want := "Friday, March 13, 2026, 6:30 PM (CET)"; !strings.Contains(got.Text, want) || !strings.Contains(got.HTML, want) {
		t.Errorf("English expiry %q missing", want)
	}
	if !strings.Contains(got.HTML, "Hello &lt;b&gt;Bob&lt;/b&gt;,") || strings.Contains(got.HTML, "<b>Bob</b>") {
		t.Errorf("HTML does not escape the name:\n%s", got.HTML)
	}
	if !strings.Contains(got.Text, "Hello <b>Bob</b>,") {
		t.Errorf("text should show the name as typed:\n%s", got.Text)
	}
	if strings.Join(got.ToNames, "") != "<b>Bob</b>" {
		t.Errorf("To name = %q", got.ToNames)
	}
}

func TestSendDigest(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, srv.URL(), srv, nil)
	err := s.Send(context.Background(), bridge.Message{
		Kind: bridge.MessageDigest, To: "admin@example.com",
		Invitations: []bridge.Invitation{{Name: "Alice", Email: "alice@example.com", LockName: "Front door",
			ExpiresAt: expiry, Status: bridge.StatusExpiringSoon}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	if got.Subject != "Invitations not redeemed yet: 1" || !strings.Contains(got.Text, "Alice <alice@example.com>, Front door: expiring soon") {
		t.Errorf("digest = %q\n%s", got.Subject, got.Text)
	}
}

func TestSendErrorsHideSecrets(t *testing.T) {
	const code = "987654321"
	t.Run("wrong password", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth(smtpUser, "the-right-one"))
		u := url.URL{Scheme: "smtp", Host: srv.Addr, User: url.UserPassword(smtpUser, smtpPassword)}
		logs := &bridgetest.Logs{}
		s := newSender(t, u.String(), srv, logs)
		err := s.Send(context.Background(), invite(bridge.MessageInvite, "en"))
		if err == nil {
			t.Fatal("Send succeeded with a wrong password")
		}
		if !strings.Contains(err.Error(), "535") {
			t.Errorf("error does not say the login failed: %v", err)
		}
		for _, secret := range []string{smtpPassword, url.QueryEscape(smtpPassword), code, "alice@example.com"} {
			if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
				t.Errorf("error or log shows %q: %v\n%s", secret, err, logs.String())
			}
		}
		if len(srv.Messages()) != 0 {
			t.Error("the server accepted a message")
		}
	})
	t.Run("rejected recipient", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.WithAuth(smtpUser, smtpPassword))
		// A server that echoes what it got must not make the error leak it.
		srv.Reject("no mailbox alice@example.com here (login " + smtpPassword + ", code 987654321)")
		s := newSender(t, srv.URL(), srv, nil)
		err := s.Send(context.Background(), invite(bridge.MessageInvite, "en"))
		if err == nil {
			t.Fatal("Send succeeded although the server refused the recipient")
		}
		msg := err.Error()
		if !strings.Contains(msg, "550") || !strings.Contains(msg, "a***@example.com") {
			t.Errorf("error should give the code and the masked address: %v", err)
		}
		for _, secret := range []string{smtpPassword, code, "alice@example.com"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error shows %q: %v", secret, err)
			}
		}
	})
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.WithAuth(smtpUser, smtpPassword))
		u := url.URL{Scheme: "smtp", Host: srv.Addr, User: url.UserPassword(smtpUser, smtpPassword)}
		s := newSender(t, u.String(), srv, nil)
		err := s.Send(context.Background(), invite(bridge.MessageInvite, "en"))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("err = %v, want a STARTTLS error", err)
		}
		if strings.Contains(err.Error(), smtpPassword) {
			t.Errorf("error shows the password: %v", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("the message went out unencrypted")
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth(smtpUser, smtpPassword))
		s, err := NewSender(bridge.Secret(srv.URL()), "door@example.com", mustLoad(t, ""), Options{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), invite(bridge.MessageInvite, "en"))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate error", err)
		}
		if len(srv.Messages()) != 0 {
			t.Error("the message went to an unverified server")
		}
	})
	t.Run("bad recipient", func(t *testing.T) {
		srv := mailtest.Start(t)
		s := newSender(t, srv.URL(), srv, nil)
		m := invite(bridge.MessageInvite, "en")
		m.To = "not an address"
		if err := s.Send(context.Background(), m); !errors.Is(err, bridge.ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := mailtest.Start(t)
		s := newSender(t, srv.URL(), srv, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Send(ctx, invite(bridge.MessageInvite, "en")); err == nil {
			t.Error("Send succeeded with a cancelled context")
		}
		if len(srv.Messages()) != 0 {
			t.Error("a message went out after cancellation")
		}
	})
}

func TestNewSenderChecksTheURL(t *testing.T) {
	tpl := mustLoad(t, "")
	tests := []struct {
		name, url, from string
		want            string
	}{
		{"other scheme", "https://user:" + smtpPassword + "@mail.example.com", "a@example.com", "must look like"},
		{"no host", "smtp://user:" + smtpPassword + "@:587", "a@example.com", "must look like"},
		{"unknown option", "smtp://user:" + smtpPassword + "@mail.example.com?tls=off", "a@example.com", `option "tls" is unknown`},
		{"unknown starttls", "smtp://user:" + smtpPassword + "@mail.example.com?starttls=never", "a@example.com", `starttls="never" is unknown`},
		{"starttls with smtps", "smtps://user:" + smtpPassword + "@mail.example.com?starttls=optional", "a@example.com", "does not apply to smtps"},
		{"password in clear to a remote host", "smtp://user:" + smtpPassword + "@mail.example.com?starttls=optional", "a@example.com", "only allowed for localhost"},
		{"bad port", "smtp://user:" + smtpPassword + "@mail.example.com:99999", "a@example.com", "not a port"},
		{"path", "smtp://user:" + smtpPassword + "@mail.example.com/inbox", "a@example.com", "must look like"},
		{"unparsable", "smtp://user:" + smtpPassword + "@mail.example.com:%zz", "a@example.com", "not a URL"},
		{"bad from", "smtp://user:" + smtpPassword + "@mail.example.com", "door", "SMTP_FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSender(bridge.Secret(tc.url), tc.from, tpl, Options{})
			if !errors.Is(err, bridge.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error lacks %q: %v", tc.want, err)
			}
			if strings.Contains(err.Error(), smtpPassword) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}

	for _, ok := range []string{
		"smtp://user:" + smtpPassword + "@mail.example.com",
		"smtp://mail.example.com:25?starttls=optional",
		"smtp://user:" + smtpPassword + "@localhost:25?starttls=optional",
		"smtp://user:" + smtpPassword + "@[::1]:25?starttls=optional",
		"smtps://user:" + smtpPassword + "@mail.example.com",
	} {
		if _, err := NewSender(bridge.Secret(ok), "a@example.com", tpl, Options{}); err != nil {
			t.Errorf("NewSender(%s): %v", ok, err)
		}
	}
}

func TestSendConcurrently(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithSTARTTLS(), mailtest.WithAuth(smtpUser, smtpPassword))
	s := newSender(t, srv.URL(), srv, &bridgetest.Logs{})
	guests := []string{"ann@example.com", "ben@example.com", "cem@example.com", "dan@example.com", "eva@example.com"}
	errs := make(chan error, len(guests))
	for _, guest := range guests {
		go func() {
			m := invite(bridge.MessageInvite, "en")
			m.To = guest
			errs <- s.Send(context.Background(), m)
		}()
	}
	for range guests {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got := map[string]bool{}
	for _, m := range srv.Messages() {
		got[strings.Join(m.To, ",")] = true
	}
	for _, guest := range guests {
		if !got[guest] {
			t.Errorf("no email to %s", guest)
		}
	}
}
