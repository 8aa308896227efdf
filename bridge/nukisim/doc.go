// Package nukisim simulates Nuki Web (api.nuki.io) from its published
// Swagger 2.0 spec, for tests, the demo and `nuki-invites simulate`.
//
// A Sim is an http.Handler serving the endpoints the bridge uses with the
// spec's JSON shapes, status codes and Nuki's error body
// {"code","description","homeRef","reasonPhrase","uri"}: locks, app and other
// authorizations (standard create, which "emails" a 9-digit invite code, and
// Advanced API create, which emails nothing and later POSTs a signed
// AuthCreation webhook), and account users. Requests must carry the
// configured bearer token, else 401.
//
// Choices where the spec is silent: an unknown id in a path answers 404; a
// create on an offline lock (SetOffline) answers 409 "Parameter conflicts"
// (the spec declares 409, not 423, for creates), while the Advanced API
// reports it in the webhook with errorCode "ff"; a second app authorization
// for the same user and lock answers 409; a lock with 200 authorizations
// refuses more (409, or errorCode "0x13" in the webhook); a duplicate email on
// PUT /account/user answers 409 as Nuki does; GET /account/user without limit
// returns every user from offset.
//
// Tests and the demo steer it through Go methods (Seed, AddLock, AddUser,
// AddAuth, Accept, SetOffline, InjectFault, Emails, Calls, …) or the same
// control over HTTP under /_sim/, which needs no token and is counted in no
// call statistics. State is guarded by a mutex; every method is safe for
// concurrent use. Webhook deliveries run in goroutines that Close stops and
// waits for.
package nukisim
