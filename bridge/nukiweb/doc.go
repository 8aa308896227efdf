// Package nukiweb talks to the Nuki Web API (https://api.nuki.io) and
// receives its webhooks.
//
// Client implements bridge.Nuki: it reads the account's locks, users and app
// authorizations for a sync, finds and creates account users, and creates and
// deletes app authorizations, with the standard call (Nuki emails the invite
// code) or the Advanced API (no email; the outcome arrives as a webhook). The
// same code talks to the simulator in package nukisim; only the base URL
// differs.
//
// Every failure of a call comes back as a *bridge.NukiError whose Kind is one
// of bridge.ErrNukiUnauthorized, ErrNukiRateLimited, ErrNukiUnavailable or
// ErrNukiRejected. Reads and deletes are retried with bounded exponential
// backoff and jitter on 429, 5xx, timeouts and dropped connections; creating
// calls (PUT) are retried only when nothing can have reached Nuki (connection
// refused, 429). Error messages and log lines never contain the API token,
// request bodies or invite codes.
//
// NewWebhookHandler returns the http.Handler that receives Nuki's signed
// webhooks (advanced AuthCreation outcomes and DEVICE_AUTHS/ACCOUNT_USER
// changes) and hands them to a WebhookSink, normally the bridge.Service.
package nukiweb
