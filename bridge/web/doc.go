// Package web serves the HTTP side of nuki-invites: the JSON API under
// /api/v1, the invitations page, a server-sent event stream for live updates
// and /healthz.
//
// The page is rendered on the server from embedded templates and uses only
// relative URLs, so it works unchanged behind Home Assistant's ingress
// (X-Ingress-Path: /api/hassio_ingress/<token>/) and on its own.
//
// Access control has two modes. With Options.TrustedProxy set (the add-on),
// only requests from that address are served and Home Assistant's
// X-Remote-User-Name header names the actor recorded in an invitation's
// history. Otherwise, when Options.APIToken is set, every API request and the
// page need "Authorization: Bearer <token>"; a browser may open the page once
// with ?token=<token>, which sets an HttpOnly, SameSite=Strict session cookie
// (derived from the token, never the token itself) and redirects to the bare
// page. /healthz is always open. Handlers in Options.Extra (the Nuki webhook)
// bypass access control and must authenticate requests themselves.
//
// State-changing requests are also checked with http.CrossOriginProtection,
// so a page on another site can never act with a user's cookie.
//
// GET /api/v1/backup offers a consistent copy of the database when
// Options.Backup is set; it holds invite codes, so it is behind the same
// access control as everything else. GET /api/v1/diagnostics offers the
// diagnostics bundle (Options.Diagnostics: secrets and personal data already
// removed) the same way, and answers 404 when there is none.
//
// Everything the API writes is one of the view types of view.go
// (Invitation, Lock, SyncState, Code and their lists), never a core type as
// it is: the documented fields only, every member in snake_case as the
// request bodies, the CSV export and the MQTT payloads. The bookkeeping the
// store keeps for the core is never shown. Keypad codes are listed with the
// invitations, told apart by their kind.
//
// A create with "kind": "keypad" makes keypad codes; a code the client
// gives is never echoed, also not in a problem. GET
// /api/v1/keypad-codes/unmanaged lists the keypad codes made elsewhere (in
// Nuki Web or the Nuki app) without their digits, and POST
// /api/v1/keypad-codes/adopt takes one on. The page creates keypad codes,
// lists them with their windows and offers those made elsewhere for
// adoption.
//
// POST /api/v1/invitations/bulk creates invitations for many guests, one
// create per row, or with dry_run only checks them (Service.CheckCreate);
// GET /api/v1/invitations.csv exports the list as CSV, with no cell a
// spreadsheet would run as a formula. A create that Nuki Web refused for
// some locks is answered with the problem and the invitations it made, as
// the MQTT create answers with their ids.
//
// Errors are answered as application/problem+json (RFC 9457) with a message
// meant for people; no secret ever appears in one.
package web
