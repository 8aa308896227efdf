package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// clientOptions configures paho: a clean session re-subscribed in OnConnect,
// retries from the very first connect and after a drop at most
// reconnectEvery apart, unordered non-blocking handlers and "offline" as the
// last will.
func (b *Bridge) clientOptions() (*paho.ClientOptions, error) {
	o := paho.NewClientOptions().
		AddBroker(b.opts.URL).
		SetClientID(b.opts.ClientID).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(reconnectEvery).
		SetMaxReconnectInterval(reconnectEvery).
		SetKeepAlive(30*time.Second).
		SetConnectTimeout(10*time.Second).
		SetWriteTimeout(10*time.Second).
		SetWill(b.topics.availability(), "offline", 1, true).
		SetOnConnectHandler(b.onConnect).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			b.log.Warn("lost the connection to the MQTT broker; reconnecting", "error", err)
		}).
		SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
			switch n := n.(type) {
			case paho.ConnectionNotificationFailed:
				attempts, warn := b.connectFailures.failed(b.opts.Now())
				level := slog.LevelDebug
				if warn {
					level = slog.LevelWarn
				}
				b.log.Log(context.Background(), level, "could not connect to the MQTT broker; retrying",
					"broker", redactURL(b.opts.URL), "error", n.Reason, "attempts", attempts)
			case paho.ConnectionNotificationConnected:
				b.connectFailures.reset()
			}
		})
	if b.opts.Username != "" {
		o.SetUsername(b.opts.Username)
	}
	if !b.opts.Password.IsZero() {
		o.SetPassword(b.opts.Password.Reveal()) // leaves only in the CONNECT packet
	}
	cfg, err := b.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		o.SetTLSConfig(cfg)
	}
	return o, nil
}

// failureLog keeps the log readable while the broker stays away: attempts
// come every reconnectEvery, but only the first failure of an outage and
// then one every connectFailureLog are warnings.
type failureLog struct {
	mu       sync.Mutex
	attempts int
	warned   time.Time
}

// failed counts a failed attempt and says whether to warn about it.
func (f *failureLog) failed(now time.Time) (attempts int, warn bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.attempts == 1 || now.Sub(f.warned) >= connectFailureLog {
		f.warned = now
		return f.attempts, true
	}
	return f.attempts, false
}

// reset starts afresh once connected.
func (f *failureLog) reset() {
	f.mu.Lock()
	f.attempts = 0
	f.mu.Unlock()
}

// tlsConfig returns the TLS settings for ssl://, mqtts://, tls:// and wss://
// URLs, and nil for plain ones.
func (b *Bridge) tlsConfig() (*tls.Config, error) {
	u, err := url.Parse(b.opts.URL)
	if err != nil {
		return nil, fmt.Errorf("mqtt: MQTT_URL %q: %w", redactURL(b.opts.URL), err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ssl", "mqtts", "tls", "tcps", "mqtt+ssl", "wss":
	default:
		if b.opts.CAFile != "" || b.opts.Insecure {
			b.log.Warn("MQTT_CA_FILE and MQTT_INSECURE apply only to TLS URLs (ssl://, mqtts://); ignored", "broker", redactURL(b.opts.URL))
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: b.opts.Insecure} //nolint:gosec // the user's explicit choice
	if b.opts.CAFile != "" {
		pem, err := os.ReadFile(b.opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: MQTT_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: MQTT_CA_FILE %s holds no PEM certificate", b.opts.CAFile)
		}
		cfg.RootCAs = pool
	}
	if b.opts.Insecure {
		b.log.Warn("MQTT_INSECURE is set: the broker's certificate is not verified")
	}
	return cfg, nil
}

// redactURL hides a password written into the broker URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable URL]"
	}
	return u.Redacted()
}

// RoutePahoLogs sends paho's log output (its ERROR, CRITICAL, WARN and DEBUG
// loggers) to logger with component=paho, at the matching slog levels. paho's
// loggers are process-wide variables: call this once at start-up, before any
// Bridge runs, and not concurrently with running clients.
func RoutePahoLogs(logger *slog.Logger) {
	l := logger.With("component", "paho")
	paho.ERROR = pahoLogger{l, slog.LevelError}
	paho.CRITICAL = pahoLogger{l, slog.LevelError}
	paho.WARN = pahoLogger{l, slog.LevelDebug} // routine notes ("memorystore wiped"); real trouble comes as ERROR
	paho.DEBUG = pahoLogger{l, slog.LevelDebug}
}

// pahoLogger adapts paho's Println/Printf logger to slog.
type pahoLogger struct {
	log   *slog.Logger
	level slog.Level
}

func (p pahoLogger) Println(v ...any) {
	if p.log.Enabled(context.Background(), p.level) {
		p.log.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintln(v...)))
	}
}

func (p pahoLogger) Printf(format string, v ...any) {
	if p.log.Enabled(context.Background(), p.level) {
		p.log.Log(context.Background(), p.level, strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}
