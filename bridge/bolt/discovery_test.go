package bolt

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestPublishedDiscovery(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	const lockTopic, userTopic = "homeassistant/sensor/nuki_invites_1/status/config", "homeassistant/event/nuki_invites_1/event/config"

	steps := []struct {
		name string
		put  map[string]string
		del  []string
		want map[string]string
	}{
		{"first publication", map[string]string{lockTopic: "h1", userTopic: "h2"}, nil,
			map[string]string{lockTopic: "h1", userTopic: "h2"}},
		{"changed payload", map[string]string{lockTopic: "h3"}, nil,
			map[string]string{lockTopic: "h3", userTopic: "h2"}},
		{"removed entity", nil, []string{userTopic, "never/published"},
			map[string]string{lockTopic: "h3"}},
		{"put and delete of one topic", map[string]string{userTopic: "h4"}, []string{userTopic},
			map[string]string{lockTopic: "h3"}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			before := s.WriteTxCount()
			if err := s.SetPublishedDiscovery(ctx, step.put, step.del); err != nil {
				t.Fatal(err)
			}
			if n := s.WriteTxCount() - before; n != 1 {
				t.Errorf("SetPublishedDiscovery took %d write transactions, want 1", n)
			}
			got, err := s.PublishedDiscovery(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, step.want) {
				t.Errorf("PublishedDiscovery = %v, want %v", got, step.want)
			}
		})
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := openAt(t, path).PublishedDiscovery(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{lockTopic: "h3"}; !maps.Equal(got, want) {
		t.Errorf("after reopening, PublishedDiscovery = %v, want %v", got, want)
	}
}

func TestSetPublishedDiscoveryRefusesAnEmptyTopic(t *testing.T) {
	s, _ := openTest(t)
	err := s.SetPublishedDiscovery(context.Background(), map[string]string{"": "h", "a/config": "h"}, nil)
	if !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("empty topic: %v, want ErrInvalid", err)
	}
	if got, _ := s.PublishedDiscovery(context.Background()); len(got) != 0 {
		t.Errorf("refused change recorded %v", got)
	}
}
