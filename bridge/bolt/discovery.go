package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// PublishedDiscovery returns the MQTT discovery config topics published so
// far, each with the hash of its payload. The map is new and owned by the
// caller.
func (s *Store) PublishedDiscovery(ctx context.Context) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read published discovery: %w", err)
	}
	topics := make(map[string]string)
	err := s.view(func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketDiscovery)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			topics[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read published discovery: %w", err)
	}
	return topics, nil
}

// SetPublishedDiscovery records topics as published with their payload hash
// and forgets the topics in del, in one write transaction; a topic in both
// ends up forgotten. Nothing is written when both are empty. An empty topic
// fails with bridge.ErrInvalid before anything is written.
func (s *Store) SetPublishedDiscovery(ctx context.Context, put map[string]string, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("record published discovery: %w", err)
	}
	var o encoder
	for topic, hash := range put {
		o.put(bucketDiscovery, []byte(topic), topic != "", []byte(hash))
	}
	for _, topic := range del {
		o.del(bucketDiscovery, []byte(topic))
	}
	if o.err != nil {
		return fmt.Errorf("record published discovery: %w", o.err)
	}
	if err := s.update(o.ops.apply); err != nil {
		return fmt.Errorf("record published discovery: %w", err)
	}
	return nil
}
