// Package addon turns the Home Assistant add-on's configuration into the
// daemon's environment contract (see bridge/config).
//
// The Supervisor writes the options a user saved in the add-on's
// Configuration tab to /data/options.json. Environment reads that file, checks
// every option and maps each one onto the variable that bridge/config parses
// (nuki_api_token → NUKI_API_TOKEN, invite_validity → INVITE_VALIDITY, …). It
// adds the values that are fixed inside the add-on (the database on the
// persistent /data volume, the ingress listener on 0.0.0.0:8099 that accepts
// only the Supervisor's ingress proxy 172.30.32.2, the e-mail templates in the
// add-on's config folder, a stable MQTT client id) and finds the MQTT broker:
// from the mqtt_url option when the user set one, otherwise from the
// Supervisor's services API, waiting with a capped backoff while the broker
// add-on is not up yet.
//
// Prepare, the add-on's entry point, adds what the daemon learns from the
// Supervisor beyond its configuration: the add-on's installed slug, which
// makes the link from Home Assistant's device pages to the add-on's page
// (homeassistant://hassio/ingress/<slug>). Without it the add-on starts
// all the same, with no link.
//
// The returned map holds secrets (the Nuki token, passwords) as plain values,
// because environment values are strings; the caller hands it to config.Parse,
// which wraps them in bridge.Secret again. Nothing in this package logs or
// returns a secret in an error.
package addon
