package mqtttest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message as a subscriber received it. Retained is true only
// for messages the broker delivered from its store at subscription time.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// String shows a message in failure output.
func (m Message) String() string {
	return fmt.Sprintf("%s retained=%t %s", m.Topic, m.Retained, m.Payload)
}

// Client is a test client that records every message on its filters. It
// subscribes again after a reconnect, so it follows a broker restart. Its
// handlers run in order.
type Client struct {
	t       testing.TB
	client  paho.Client
	filters []string

	mu       sync.Mutex
	messages []Message
	count    int           // messages received since the last Reset
	changed  chan struct{} // closed and replaced on every new message
}

// Connect connects a recording client to url, subscribed to filters with
// QoS 1, and disconnects it when t ends. It fails t if the broker does not
// accept it within 10 s.
func Connect(t testing.TB, url string, filters ...string) *Client {
	t.Helper()
	return connect(t, url, 1, filters)
}

// ConnectBulk is Connect with QoS 0 subscriptions, for tests that receive
// thousands of messages at once: a broker holds back only a limited queue of
// QoS 1 messages per subscriber (Mosquitto: 1000) and drops the rest.
func ConnectBulk(t testing.TB, url string, filters ...string) *Client {
	t.Helper()
	return connect(t, url, 0, filters)
}

func connect(t testing.TB, url string, qos byte, filters []string) *Client {
	t.Helper()
	c := &Client{t: t, filters: filters, changed: make(chan struct{})}
	subscribed := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker(url).
		SetClientID(Unique("test")).
		SetCleanSession(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).
		SetConnectTimeout(5 * time.Second).
		SetOnConnectHandler(func(pc paho.Client) {
			var err error
			if len(filters) > 0 {
				subs := make(map[string]byte, len(filters))
				for _, f := range filters {
					subs[f] = qos
				}
				tok := pc.SubscribeMultiple(subs, c.record)
				if !tok.WaitTimeout(10 * time.Second) {
					err = fmt.Errorf("subscribe %v: no answer", filters)
				} else {
					err = tok.Error()
				}
			}
			select {
			case subscribed <- err:
			default:
			}
		})
	c.client = paho.NewClient(opts)
	tok := c.client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("test client cannot connect to %s: %v", url, tok.Error())
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("test client: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("test client: no subscription to %v within 10s", filters)
	}
	t.Cleanup(func() { c.client.Disconnect(100) })
	return c
}

func (c *Client) record(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	c.messages = append(c.messages, Message{Topic: m.Topic(), Payload: slices.Clone(m.Payload()), Retained: m.Retained()})
	c.count++
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Messages returns a copy of everything received so far, in order.
func (c *Client) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.messages)
}

// On returns the messages received on topic, in order.
func (c *Client) On(topic string) []Message {
	var out []Message
	for _, m := range c.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// Reset forgets what was received so far.
func (c *Client) Reset() {
	c.mu.Lock()
	c.messages, c.count = nil, 0
	c.mu.Unlock()
}

// WaitCount waits until n messages arrived since the last Reset. It fails t
// after timeout.
func (c *Client) WaitCount(timeout time.Duration, n int) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		count, changed := c.count, c.changed
		c.mu.Unlock()
		if count >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			c.t.Fatalf("waited %s for %d messages, got %d", timeout, n, count)
		}
	}
}

// WaitFor returns the first message (received before or after the call)
// that match accepts. It fails t after timeout, listing what arrived.
func (c *Client) WaitFor(timeout time.Duration, what string, match func(Message) bool) Message {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		changed := c.changed
		for _, m := range c.messages {
			if match(m) {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			c.t.Fatalf("waited %s for %s; received:\n%s", timeout, what, c.dump())
			return Message{}
		}
	}
}

// WaitPayload waits for a message on topic with exactly payload.
func (c *Client) WaitPayload(timeout time.Duration, topic, payload string) Message {
	c.t.Helper()
	return c.WaitFor(timeout, fmt.Sprintf("%q on %s", payload, topic), func(m Message) bool {
		return m.Topic == topic && string(m.Payload) == payload
	})
}

func (c *Client) dump() string {
	var b strings.Builder
	for _, m := range c.Messages() {
		b.WriteString("  " + m.String() + "\n")
	}
	return b.String()
}

// Publish sends a message with QoS 1 and waits until the broker has it.
func (c *Client) Publish(topic string, payload []byte, retained bool) {
	c.t.Helper()
	tok := c.client.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		c.t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// Retained returns every retained message the broker holds under filters,
// by topic. It subscribes a fresh client and then publishes a marker to
// itself: the broker delivers retained messages before the marker.
func Retained(t testing.TB, url string, filters ...string) map[string][]byte {
	t.Helper()
	marker := Unique("mqtttest/marker")
	c := Connect(t, url, append(slices.Clone(filters), marker)...)
	nonce := []byte(Unique("end"))
	c.Publish(marker, nonce, false)
	c.WaitFor(10*time.Second, "the marker", func(m Message) bool {
		return m.Topic == marker && bytes.Equal(m.Payload, nonce)
	})
	out := make(map[string][]byte)
	for _, m := range c.Messages() {
		if m.Retained && len(m.Payload) > 0 {
			out[m.Topic] = m.Payload
		}
	}
	c.client.Disconnect(50)
	return out
}
