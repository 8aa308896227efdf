// Package bolt stores the bridge's state in a single bbolt file. It
// implements bridge.Store for the Service and keeps the MQTT discovery
// bookkeeping (which config topics were published, with which payload hash).
//
// # Layout
//
// One bucket per record kind: locks, users, auths, invitations, codes,
// requests, discovery and meta. Lock and user keys are big-endian int64
// (Nuki ids are positive, so they sort numerically as bytes); every other key
// is the record's string id. Records are JSON, except invite codes, which are
// stored as their raw revealed bytes because bridge.Secret redacts itself in
// every text encoding. The meta bucket holds the schema version; Open applies
// the missing migrations in order and refuses a file written by a newer
// nuki-invites.
//
// # Concurrency and durability
//
// bbolt allows one process per file: Open takes an exclusive file lock and
// fails with an error wrapping ErrLocked when another process holds it past
// Options.Timeout. A Store is safe for concurrent use by goroutines. Every
// write (Commit, SetPublishedDiscovery, migrations) is one fsync'd
// transaction: it is either wholly on disk when the call returns nil or not
// at all. Nothing is written for an empty change, and WriteTxCount counts the
// write transactions that were committed.
//
// # Backups
//
// Backup and BackupFile copy a consistent snapshot while the Store stays in
// use. BackupPath copies a file no process has open; while the daemon runs it
// holds the lock and BackupPath fails with ErrLocked, so a running daemon
// offers backups through its HTTP API instead.
//
// A Snapshotter keeps a copy of the database beside it (SnapshotPath) no
// older than its interval, written whole to a temporary file and renamed
// into place, so the file is never half written. Home Assistant's backups
// take that copy and leave out the live file, which may be mid-write;
// RestoreSnapshot, at start, makes a missing live file from it: that is how
// a restored backup comes back.
package bolt
