package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/nuki-invites/nuki-invites/bridge"
	"go.etcd.io/bbolt"
)

// Load reads every record in one read transaction. The maps are new and owned
// by the caller. A record that cannot be decoded fails the whole Load with a
// *DamageError naming its bucket and key: silently dropping it would make the
// next sync believe an invitation vanished.
func (s *Store) Load(ctx context.Context) (bridge.State, error) {
	if err := ctx.Err(); err != nil {
		return bridge.State{}, fmt.Errorf("load: %w", err)
	}
	var st bridge.State
	err := s.view(func(tx *bbolt.Tx) (err error) {
		if st.Locks, err = loadJSON(tx, bucketLocks, func(l *bridge.Lock) int64 { return l.ID }); err != nil {
			return err
		}
		if st.Users, err = loadJSON(tx, bucketUsers, func(u *bridge.User) int64 { return u.ID }); err != nil {
			return err
		}
		if st.Auths, err = loadJSON(tx, bucketAuths, func(a *bridge.Auth) string { return a.ID }); err != nil {
			return err
		}
		if st.Invitations, err = loadJSON(tx, bucketInvitations, func(i *bridge.Invitation) bridge.InviteID { return i.ID }); err != nil {
			return err
		}
		if st.Requests, err = loadJSON(tx, bucketRequests, func(r *bridge.Request) string { return r.ID }); err != nil {
			return err
		}
		st.Codes, err = loadCodes(tx)
		return err
	})
	if err != nil {
		return bridge.State{}, fmt.Errorf("load: %w", asDamage(s.path, err))
	}
	return st, nil
}

// loadJSON decodes every record of a bucket into a new map keyed by id.
func loadJSON[K comparable, V any](tx *bbolt.Tx, name []byte, id func(*V) K) (map[K]V, error) {
	b, err := bucket(tx, name)
	if err != nil {
		return nil, err
	}
	var raw []record
	err = b.ForEach(func(k, v []byte) error {
		raw = append(raw, record{key: k, value: v})
		return nil
	})
	if err != nil {
		return nil, err
	}
	recs, err := decodeJSON[V](name, raw)
	if err != nil {
		return nil, err
	}
	m := make(map[K]V, len(recs))
	for i := range recs {
		m[id(&recs[i])] = recs[i]
	}
	return m, nil
}

// record is a key and value as bbolt returns them: valid only until the
// transaction ends.
type record struct{ key, value []byte }

// decodeJSON decodes records on every CPU: JSON decoding is nearly all the
// time a Load takes. json.Unmarshal copies what it decodes, so the records
// refer to nothing in the transaction. It returns once every worker is done.
func decodeJSON[V any](name []byte, raw []record) ([]V, error) {
	const minPerWorker = 256
	out := make([]V, len(raw))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(raw)/minPerWorker))
	per := (len(raw) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, len(raw))
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[w] = fmt.Errorf("%s records: %v", name, r)
				}
			}()
			defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
			for i := lo; i < hi; i++ {
				if err := json.Unmarshal(raw[i].value, &out[i]); err != nil {
					errs[w] = fmt.Errorf("%s record %s: %w", name, showKey(name, raw[i].key), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func loadCodes(tx *bbolt.Tx) (map[bridge.InviteID]bridge.Secret, error) {
	b, err := bucket(tx, bucketCodes)
	if err != nil {
		return nil, err
	}
	codes := make(map[bridge.InviteID]bridge.Secret)
	err = b.ForEach(func(k, v []byte) error {
		codes[bridge.InviteID(k)] = bridge.Secret(v)
		return nil
	})
	return codes, err
}

func bucket(tx *bbolt.Tx, name []byte) (*bbolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %s is missing", name)
	}
	return b, nil
}

// Commit writes the batch in one fsync'd write transaction: when it returns
// nil every change is on disk, otherwise none is. Within a kind, writes are
// applied before deletes, so a key both written and deleted ends up deleted.
// An empty batch returns nil without opening a transaction. A record without
// an id fails with bridge.ErrInvalid before anything is written.
func (s *Store) Commit(ctx context.Context, b bridge.Batch) error {
	if b.Empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	ops, err := encodeBatch(&b)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := s.update(ops.apply); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// op is one write or delete, encoded before the transaction starts so the
// write lock is held only for the bbolt calls.
type op struct {
	bucket, key, value []byte
	delete             bool
}

type ops []op

// fillPercent packs pages tighter than bbolt's default of half full: records
// are mostly rewritten in place and added rarely, so splits are few and a
// smaller file loads faster.
const fillPercent = 0.9

func (o ops) apply(tx *bbolt.Tx) error {
	for _, w := range o {
		b, err := bucket(tx, w.bucket)
		if err != nil {
			return err
		}
		b.FillPercent = fillPercent
		if w.delete {
			err = b.Delete(w.key)
		} else {
			err = b.Put(w.key, w.value)
		}
		if err != nil {
			return fmt.Errorf("%s record %s: %w", w.bucket, showKey(w.bucket, w.key), err)
		}
	}
	return nil
}

func encodeBatch(b *bridge.Batch) (ops, error) {
	var o encoder
	for _, l := range b.Locks {
		o.putJSON(bucketLocks, keyOfInt(l.ID), l.ID > 0, l)
	}
	for _, id := range b.DeleteLocks {
		o.del(bucketLocks, keyOfInt(id))
	}
	for _, u := range b.Users {
		o.putJSON(bucketUsers, keyOfInt(u.ID), u.ID > 0, u)
	}
	for _, id := range b.DeleteUsers {
		o.del(bucketUsers, keyOfInt(id))
	}
	for _, a := range b.Auths {
		o.putJSON(bucketAuths, []byte(a.ID), a.ID != "", a)
	}
	for _, id := range b.DeleteAuths {
		o.del(bucketAuths, []byte(id))
	}
	for _, inv := range b.Invitations {
		o.putJSON(bucketInvitations, []byte(inv.ID), inv.ID != "", inv)
	}
	for id, code := range b.Codes {
		o.put(bucketCodes, []byte(id), id != "", []byte(code.Reveal()))
	}
	for _, id := range b.DeleteCodes {
		o.del(bucketCodes, []byte(id))
	}
	for _, r := range b.Requests {
		o.putJSON(bucketRequests, []byte(r.ID), r.ID != "", r)
	}
	for _, id := range b.DeleteRequests {
		o.del(bucketRequests, []byte(id))
	}
	return o.ops, o.err
}

// encoder collects ops and keeps the first error.
type encoder struct {
	ops ops
	err error
}

func (o *encoder) put(bucket, key []byte, hasID bool, value []byte) {
	switch {
	case o.err != nil:
	case !hasID:
		o.err = fmt.Errorf("%w: %s record without an id", bridge.ErrInvalid, bucket)
	default:
		o.ops = append(o.ops, op{bucket: bucket, key: key, value: value})
	}
}

func (o *encoder) putJSON(bucket, key []byte, hasID bool, rec any) {
	if o.err != nil {
		return
	}
	v, err := json.Marshal(rec)
	if err != nil {
		o.err = fmt.Errorf("encode %s record %s: %w", bucket, showKey(bucket, key), err)
		return
	}
	o.put(bucket, key, hasID, v)
}

// del ignores an empty key: there is nothing to delete.
func (o *encoder) del(bucket, key []byte) {
	if len(key) > 0 {
		o.ops = append(o.ops, op{bucket: bucket, key: key, delete: true})
	}
}

// keyOfInt encodes an id big-endian, so that positive ids sort numerically.
func keyOfInt(id int64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(id)) }

func intKey(k []byte) string {
	if len(k) != 8 {
		return fmt.Sprintf("%x", k)
	}
	return strconv.FormatInt(int64(binary.BigEndian.Uint64(k)), 10)
}

func stringKey(k []byte) string { return strconv.Quote(string(k)) }

func isIntBucket(bucket []byte) bool {
	return string(bucket) == string(bucketLocks) || string(bucket) == string(bucketUsers)
}

func showKey(bucket, key []byte) string {
	if isIntBucket(bucket) {
		return intKey(key)
	}
	return stringKey(key)
}
