// Package bridge is the core of nuki-invites: the domain types (locks, users,
// app authorizations, invitations and their history), the rules that derive an
// invitation's status from recorded facts and a clock, and the Service that
// syncs Nuki Web into the store and carries out every invitation action.
//
// The package knows no outside system. Each one lives in a package of its own
// below bridge/ (bolt for the database, nukiweb for the Nuki Web API, nukisim
// for its simulator, mqtt for Home Assistant, mail for SMTP, web for the HTTP
// API and page), implements the small interfaces declared here, and is wired
// together by cmd/nuki-invites.
//
// Time is always read through an injected clock, so every status rule,
// reminder and re-send can be tested without sleeping.
package bridge
