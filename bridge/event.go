package bridge

import (
	"slices"
	"time"
)

// EventType names something that happened to an invitation.
type EventType string

// Event types published to Home Assistant (see Public) and kept in history.
const (
	EventCreated      EventType = "created"
	EventSent         EventType = "sent"
	EventResent       EventType = "resent"
	EventReminder     EventType = "reminder"
	EventExpiringSoon EventType = "expiring_soon"
	EventAccepted     EventType = "accepted"
	EventExpired      EventType = "expired"
	EventRevoked      EventType = "revoked"
	EventFailed       EventType = "failed"
	EventCodeReady    EventType = "code_ready"
	// EventUsed: the guest used the lock (a new entry in its activity log);
	// Event.Use says how.
	EventUsed EventType = "used"
)

// Event types of keypad codes, published to Home Assistant too (see
// Public) and kept in history.
const (
	// EventCodeUsed: the keypad code opened the lock (an entry of the
	// activity log); Event.Use is the entry.
	EventCodeUsed EventType = "code_used"
	// EventWindowOpened: the code's access window opened.
	EventWindowOpened EventType = "window_opened"
	// EventWindowEnded: the code's access window is over.
	EventWindowEnded EventType = "window_ended"
)

// Event types kept only in the history or used inside the process.
const (
	// EventChanged: facts changed without a public event (name, lock name,
	// Nuki's ids); subscribers republish the invitation's state.
	EventChanged EventType = "changed"
	// EventAdopted: an authorization made elsewhere was taken on.
	EventAdopted EventType = "adopted"
	// EventCodeRevealed: somebody asked for the invite code.
	EventCodeRevealed EventType = "code_revealed"
	// EventEmailed: an email of ours went to the guest or the admin.
	EventEmailed EventType = "emailed"
	// EventEvidence: a Nuki field that feeds the status changed (lockCount,
	// lastActiveDate, appId, authId, enabled, error, operationId).
	EventEvidence EventType = "evidence"
	// EventSkipped: an automatic action was not taken; the detail says why.
	EventSkipped EventType = "skipped"
)

// PublicEventTypes are the event types Home Assistant's event entity carries.
var PublicEventTypes = []EventType{
	EventCreated, EventSent, EventResent, EventReminder, EventExpiringSoon,
	EventAccepted, EventExpired, EventRevoked, EventFailed, EventCodeReady, EventUsed,
}

// KeypadEventTypes are the event types only keypad codes have, carried by
// Home Assistant's event entity after PublicEventTypes.
var KeypadEventTypes = []EventType{EventCodeUsed, EventWindowOpened, EventWindowEnded}

// Public reports whether t is one of PublicEventTypes or KeypadEventTypes.
func (t EventType) Public() bool {
	return slices.Contains(PublicEventTypes, t) || slices.Contains(KeypadEventTypes, t)
}

// Event tells subscribers what happened, after it was committed to the store.
// It never carries an invite code.
type Event struct {
	Type       EventType
	At         time.Time
	Invitation Invitation // the invitation after the change, status current
	Detail     string
	Use        *LogEntry // the activity-log entry of an EventUsed
}

// SyncStatus is the health of the link to Nuki Web.
type SyncStatus string

// The sync statuses.
const (
	SyncOK          SyncStatus = "ok"
	SyncRunning     SyncStatus = "syncing"
	SyncAuthError   SyncStatus = "auth_error"
	SyncRateLimited SyncStatus = "rate_limited"
	SyncUnreachable SyncStatus = "unreachable"
	// SyncStoreError: Nuki Web answered, but the database could not be
	// written (a full disk, a damaged file).
	SyncStoreError SyncStatus = "store_error"
	// SyncHeld: the sync would have closed an unusual share of the open
	// invitations at once; it is held until the next sync agrees or the
	// user confirms (Service.ConfirmHeldSync).
	SyncHeld SyncStatus = "held"
)

// SyncStatuses lists every sync status.
var SyncStatuses = []SyncStatus{SyncOK, SyncRunning, SyncAuthError, SyncRateLimited, SyncUnreachable, SyncStoreError, SyncHeld}

// SyncState is the bridge's own state, shown as the bridge device.
type SyncState struct {
	Status    SyncStatus     `json:"sync_status"`
	LastSync  time.Time      `json:"last_sync,omitzero"` // last successful sync
	LastError string         `json:"last_error"`
	Counts    map[Status]int `json:"counts"`
}

// Subscriber receives what the Service did, in order. Calls come from the
// goroutine that made the change and must not block: queue and return.
type Subscriber interface {
	InvitationEvents(events []Event)
	SyncStateChanged(state SyncState)
}
