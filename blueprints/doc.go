// Package blueprints holds the Home Assistant blueprints of nuki-invites,
// which let users invite guests and hear about their invitations without
// writing YAML. The package has no Go code of its own: Home Assistant
// imports the YAML files from GitHub (see DOCS.md, "Automations without
// YAML"), and the tests beside them check them.
//
//   - script/nuki_invites/invite_guest.yaml publishes the create command on
//     <base>/invite/create with the payload the daemon takes.
//   - automation/nuki_invites/invitation_accepted.yaml, invitation_expiring.yaml
//     and invitation_expired.yaml listen to <base>/event and send a
//     notification naming the guest and the lock.
//
// The tests read every file as Home Assistant's loader would (the !input tag
// included) and check the blueprint form: the required keys, the domain
// matching the folder, every !input declared and every input used, known
// selector types, and a min_version no older than the add-on's own. They
// render the script's payload with a small evaluator of exactly the template
// constructs the files use, and the daemon's own decoder and checks must
// accept it, or refuse it for the reason a bad value deserves. A round trip
// against the real core, the Nuki Web simulator and an MQTT broker publishes
// the rendered command, and the automations' triggers must match the events
// the daemon then publishes.
package blueprints
