// Package nukiweb talks to the Nuki Web API (https://api.nuki.io) and
// receives its webhooks.
//
// Client implements bridge.Nuki: it reads the account's locks, users and app
// authorizations for a sync, finds and creates account users, creates and
// deletes app authorizations, with the standard call (Nuki emails the invite
// code) or the Advanced API (no email; the outcome arrives as a webhook),
// reads the activity log and asks a lock to sync. Beyond bridge.Nuki it
// creates keypad codes (CreateKeypadCode) and finds one on a lock
// (FindKeypadCode); Fetch lists them in Snapshot.KeypadCodes and marks the
// locks that have a keypad. The same code talks to the simulator in package
// nukisim; only the base URL differs. Listings are bounded: users are paged
// without trusting Nuki to honour offset and limit, and the activity log is
// read at most ten pages back. Lists are decoded as they arrive, element by
// element, so an answer is never held whole.
//
// Every failure of a call comes back as a *bridge.NukiError whose Kind is one
// of bridge.ErrNukiUnauthorized (401, or 403 on an account-wide endpoint),
// ErrNukiLockDenied (403 on one lock's endpoint), ErrNukiRateLimited,
// ErrNukiUnavailable or ErrNukiRejected. A rejection names its cause in
// Reason with the core's own errors: bridge.ErrInvalid (400), ErrNotFound
// (404), ErrConflict (409) or ErrBusy (423). Reads and deletes are retried
// with bounded exponential backoff and jitter on 429, 5xx, timeouts and
// dropped connections; other writes are retried only when nothing can have
// happened yet (connection refused, 429, 423). Error messages and log lines
// never contain the API token, request bodies, email addresses, invite codes
// or keypad codes: a number in Nuki's error text that could be a keypad code
// is replaced by "[code]".
//
// NewWebhookHandler returns the http.Handler that receives Nuki's signed
// webhooks (advanced AuthCreation outcomes and DEVICE_AUTHS/ACCOUNT_USER
// changes) and hands them to a WebhookSink, normally the bridge.Service.
// Every authentic delivery is answered 2xx unless the sink itself failed.
package nukiweb
