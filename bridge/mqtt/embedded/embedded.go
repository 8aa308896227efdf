package embedded

import (
	"fmt"
	"log/slog"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running in-process MQTT broker. Close stops it.
type Broker struct {
	server *mochi.Server
	url    string
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves MQTT
// 3.1.1 and 5 to anonymous clients until Close. The listener is bound when
// Start returns, so URL can be used at once. logger may be nil; the broker's
// own log lines carry component=mqtt-broker.
func Start(addr string, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	server := mochi.New(&mochi.Options{Logger: logger.With("component", "mqtt-broker")})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := server.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", addr, err)
	}
	if err := server.Serve(); err != nil {
		_ = server.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{server: server, url: "tcp://" + tcp.Address()}, nil
}

// URL returns the broker's address as an MQTT URL, e.g. tcp://127.0.0.1:41883.
func (b *Broker) URL() string { return b.url }

// Close disconnects every client and stops listening.
func (b *Broker) Close() error { return b.server.Close() }
