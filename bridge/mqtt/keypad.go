package mqtt

import (
	"github.com/nuki-invites/nuki-invites/bridge"
)

// keypadConfig describes the device of one keypad code, as inviteConfig
// does an invitation's, on the same topics (the id tells them apart):
// status with the keypad statuses, the window's start and end, the last
// use, and a revoke button. There is no re-send: a keypad code is revoked
// and made anew.
func (b *Bridge) keypadConfig(inv bridge.Invitation, via string) (topic string, payload []byte) {
	t := b.topics
	id := t.inviteDevice(inv.ID)
	state := t.inviteState(inv.ID)
	entity := "nuki_keypad_" + slugify(inv.Name+" "+inv.LockName)
	if entity == "nuki_keypad_" {
		entity += slugify(string(inv.ID))
	}
	uid := t.slug + "_" + slugify(string(inv.ID)) + "_"
	cmps := map[string]component{
		"status": {
			"p": "sensor", "name": "Status", "icon": "mdi:dialpad",
			"unique_id": uid + "status", "default_entity_id": "sensor." + entity + "_status",
			"state_topic": state, "value_template": valueOf("status"),
			"device_class": "enum", "options": bridge.KeypadStatuses,
			"json_attributes_topic": state,
		},
		"window_start": {
			"p": "sensor", "name": "Window start", "icon": "mdi:calendar-start",
			"unique_id": uid + "window_start", "default_entity_id": "sensor." + entity + "_window_start",
			"state_topic": state, "value_template": valueOf("window_start"), "device_class": "timestamp",
		},
		"window_end": {
			"p": "sensor", "name": "Window end", "icon": "mdi:calendar-end",
			"unique_id": uid + "window_end", "default_entity_id": "sensor." + entity + "_window_end",
			"state_topic": state, "value_template": valueOf("window_end"), "device_class": "timestamp",
		},
		"last_used": {
			"p": "sensor", "name": "Last used", "icon": "mdi:lock-open-variant-outline",
			"unique_id": uid + "last_used", "default_entity_id": "sensor." + entity + "_last_used",
			"state_topic": state, "value_template": valueOf("last_used"), "device_class": "timestamp",
		},
		"revoke": {
			"p": "button", "name": "Revoke", "icon": "mdi:account-cancel",
			"unique_id": uid + "revoke", "default_entity_id": "button." + entity + "_revoke",
			"command_topic": t.inviteCommand(inv.ID, "revoke"), "payload_press": "{}",
			"enabled_by_default": false,
			"availability": b.availableIn(state, bridge.KeypadStatuses, func(s bridge.Status) bool {
				return s != bridge.StatusRevoked && s != bridge.StatusEnded
			}),
			"availability_mode": "all",
		},
	}
	dev := device{
		IDs: []string{id}, Name: "Nuki keypad code: " + inv.Name + " · " + inv.LockName,
		Manufacturer: "nuki-invites", Model: "Keypad code", Software: b.opts.Version,
		ViaDevice: via,
	}
	return t.discovery(id), b.config(dev, cmps)
}
