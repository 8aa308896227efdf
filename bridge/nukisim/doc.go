// Package nukisim simulates Nuki Web (api.nuki.io) from its published
// Swagger 2.0 spec and from what is known of the real cloud's behaviour, for
// tests, the demo and `nuki-invites simulate`.
//
// A Sim is an http.Handler serving the endpoints the bridge uses with the
// spec's JSON shapes, status codes and Nuki's error body
// {"code","description","homeRef","reasonPhrase","uri"}: locks, app and other
// authorizations (standard create, which "emails" a 9-digit invite code, and
// Advanced API create, which emails nothing and posts a signed AuthCreation
// webhook), keypad codes, the activity log, lock syncs and account users.
// Requests must carry the configured bearer token, else 401.
//
// # The locks carry out writes, later
//
// By default the simulator behaves like the real cloud, and where a fact is
// unknown it takes the reading that is harder on a client:
//
//   - A create, update or delete of an authorization answers once validated
//     (204, or 200 with a requestId for the Advanced API); the lock carries it
//     out Options.LockDelay later (2s) on the Options.Now clock, if online.
//     Meanwhile a create is not listed at all, and an authorization being
//     updated or deleted is listed as it was, with an operationId (24 hex
//     digits); a second update or delete of it answers 423. A create for a
//     (user, lock) pair answers 409 while a create or a delete for that pair
//     waits.
//   - When the lock takes a create, the authorization is listed with the
//     authId the lock made (a counter per lock), the creationDate of the
//     request and no operationId, and Nuki's invitation email is sent
//     (Emails). The updateDate is when the lock carried out a write.
//   - An offline lock (SetOffline) has writes accepted but carries none out
//     and does not sync until it is back online; then what waits for it is
//     done after the lock delay. Only an Advanced API create does not wait:
//     if its lock is offline when it falls due, its outcome is errorCode
//     "ff" and the authorization never appears.
//   - Redeeming an invite (Accept) shows nowhere in the API. Using the lock
//     (Use) is logged at once (GET /smartlock/log, trigger 5 app) and redeems
//     the invite; lockCount and lastActiveDate follow only at the lock's next
//     sync: after POST /smartlock/{smartlockId}/sync (SyncLock) and the lock
//     delay, or every Options.LockSyncInterval (24h) counted from the lock's
//     creation. appId is never set.
//   - With Options.WebhookURL, a DEVICE_AUTHS notification is posted whenever
//     a lock carries out a create, update or delete (not for Accept, Use or a
//     sync). Every webhook is signed (X-Nuki-Signature-SHA256) and repeated
//     until answered 2xx: after Options.WebhookRetry (1s), then twice as long
//     each time, five attempts in all, each recorded in Webhooks.
//   - A per-lock endpoint (/smartlock/{smartlockId}/…) called with a lock the
//     account does not have answers 403. PUT /account/user with an email the
//     account has answers 400. With Options.IgnoreUserPaging, GET
//     /account/user ignores offset and limit.
//
// # Keypad codes
//
// A lock may have a Nuki keypad paired (AddLock with Lock.Keypad,
// SeedOptions.Keypads, SetKeypad), shown in GET /smartlock as
// config.keypadPaired or config.keypad2Paired. A create with type 13 and a
// code (PUT /smartlock/{smartlockId}/auth, or /smartlock/auth for several
// locks, all or nothing) makes a keypad code: no accountUserId, the access
// window as given, no email. It goes through the same lock model as an app
// authorization (listed once the lock has it, 423 while a write runs on it,
// deleted like any other) and is listed with its code. Refused with 400:
// a lock without a keypad, a code that is not six digits, has a 0 (the
// keypad has no 0 key) or starts with 12, a missing name, an accountUserId;
// with 409: a code the lock has or is about to have (a code being deleted
// stays taken until the lock has deleted it) and a lock with 200
// authorizations. Refusals of a code quote it, as a client must be ready
// for. EnterCode (POST /_sim/enter) is someone typing a code on the keypad:
// the activity log gets trigger 255 and source 1, with state 0 and the
// authorization's authId when the lock lets them in, state 9 (Rejected) when
// the code is disabled or outside its window, state 224 with no authId for a
// code the lock does not have. The refused states are this simulator's
// reading. Windows are applied in UTC on the simulator's clock.
//
// Time moves lazily and deterministically: every API request and every
// control method first carries out, in time order, what has fallen due by
// Now() (Settle does the same on demand), and a served simulator (Run,
// ListenAndServe) also settles every 200ms of real time. A test with a clock
// of its own advances it and calls Settle; no test needs to sleep.
//
// Options.Instant carries out every write within the request that asks for
// it (an offline lock still waits until it is back) and syncs a lock as soon
// as it is used: only for a test that truly needs a write visible in the next
// answer, since the real cloud never behaves so.
//
// Other choices where the spec is silent: an unknown authorization or user
// id in a path answers 404; a lock with 200 authorizations refuses more
// (409, or errorCode "0x13" in the webhook); GET /account/user without limit
// returns every user from offset; the activity log's fromDate and toDate are
// inclusive, and "id" with an unknown entry finds nothing; values a list call
// cannot read are ignored, as the spec declares no 400 for them.
//
// Tests and the demo steer it through Go methods (Seed, AddLock, AddUser,
// AddAuth, Accept, Use, SetKeypad, EnterCode, SyncLock, SetOffline, Settle,
// InjectFault, Emails, Log, Calls, …) or the same control over HTTP under /_sim/, which needs no
// token and is counted in no call statistics. State is guarded by a mutex;
// every method is safe for concurrent use. Webhook deliveries and the
// background settling run in goroutines that Close stops and waits for.
package nukisim
