// Package mqtt connects the bridge to Home Assistant over MQTT.
//
// A Bridge publishes, under a base topic (default nuki_invites):
//
//   - <base>/availability: "online"/"offline", retained, also the last will;
//   - <base>/bridge/state: the sync state and the count of invitations per
//     status, retained JSON;
//   - <base>/bridge/nuki_web: "ON" when the last sync reached Nuki Web, "OFF"
//     when Nuki Web was unreachable or refused the token; retained, and
//     published only when it changes (not at all while the first sync runs);
//   - <base>/lock/<smartlock_id>/state: {"open_invitations": n,
//     "active_keypad_codes": m} for each lock of the account, retained: n
//     counts its open app invitations, m its keypad codes that are
//     scheduled, active or used and whose window has not ended (only a lock
//     with a keypad has an entity for m);
//   - <base>/keypad/unmanaged: the keypad codes the last sync listed that
//     were made elsewhere (in Nuki Web or the Nuki app), as a retained JSON
//     array of {"auth_id", "smartlock_id", "lock", "name"}, never with a
//     code; published once a sync has finished, and again when it changes;
//   - <base>/invite/<id>/state: one retained JSON document per invitation
//     shown in Home Assistant, without email or invite code; while the
//     status is sending, confirmed_at and expires_at are null;
//   - <base>/event: public invitation events (never retained); a used event
//     also says how the guest used the lock (action, trigger, used_at);
//   - <base>/result: one answer per command (never retained);
//   - <base>/invite/<id>/code: an invite code asked for with code/get (never
//     retained, and the only place a code ever appears).
//
// It takes commands on <base>/sync, <base>/invite/create,
// <base>/invite/<id>/resend, <base>/invite/<id>/revoke,
// <base>/invite/<id>/code/get and <base>/keypad/adopt (which takes on a
// keypad code <base>/keypad/unmanaged lists: {"smartlock_id", "auth_id"}),
// and ignores retained commands, so that a command left on the broker is
// never replayed. Their JSON payloads are read
// strictly: an unknown field, a value of the wrong type, or delivery and
// force (which only resend takes) elsewhere are refused on <base>/result.
// Every command gets exactly one answer there. A payload over 64 KiB, a
// request_id over 128 bytes, a create naming more than 200 locks and string
// fields longer than their limit are refused before anything of them is
// echoed, logged or acted on; errors and logs quote at most 40 characters of
// a refused value. At most 256 commands wait for the worker: one that finds
// the queue full is answered at once with an error starting "busy:".
//
// paho retries a lost or refused connection at most every 2 s, so the
// bridge is online again within seconds of the broker's return.
//
// Home Assistant learns the entities from device-based discovery messages on
// <prefix>/device/<device_id>/config (prefix default homeassistant): one
// device for the bridge, one per lock of the account under it, and one per
// visible invitation under its lock's device (under the bridge's when the
// account no longer lists the lock), so Home Assistant shows the tree
// bridge → lock → invitation. A keypad code has a device like an
// invitation's, with its own entities (its window instead of the sending's
// times, no re-send button); one builder makes both from a description of
// each kind. Devices go out before the devices under them.
// With Options.ConfigurationURL every device links to that page. Unique ids
// come from the bridge's base topic and the lock and invitation ids only, so
// renaming never changes them. The topics and payload hashes published are
// kept in a DiscoveryStore. After every (re)connect the Bridge briefly
// subscribes to the discovery and state topics to see which retained
// messages the broker really holds: unchanged configs are not sent again,
// what a restarted broker lost is put back, and configs and states nobody
// wants any more (an invitation past HA_RETENTION, a lock gone from the
// account, or one left over from an earlier run) are cleared. A sync that
// renames a lock or changes the list of locks republishes the configs it
// affects once; an unchanged sync publishes no config.
//
// # Goroutines
//
// Run owns the MQTT client and runs the publishing loop in the caller's
// goroutine: it applies queued invitation events and sync states, republishes
// after each (re)connect and after Home Assistant's birth message, and
// checks retention once a minute. Run starts two more goroutines, which exit
// before Run returns: the command worker, which calls the Service for each
// command and publishes its result, and the answer publisher, which
// publishes the refusals given without the worker (busy, too large). paho's
// own goroutines call the Bridge's handlers, which only queue work and never
// block. The Subscriber methods
// (InvitationEvents, SyncStateChanged) never block either.
package mqtt
