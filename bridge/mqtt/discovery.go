package mqtt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// projectURL is the origin's url in every discovery message.
const projectURL = "https://github.com/nuki-invites/nuki-invites"

// device is the dev of a discovery message. A lock's device has no
// software version (its firmware is not ours to tell) and a model only where
// Nuki's lock type is known; cu, the link to the add-on's page, is there
// when Options.ConfigurationURL is set.
type device struct {
	IDs              []string `json:"ids"`
	Name             string   `json:"name"`
	Manufacturer     string   `json:"mf"`
	Model            string   `json:"mdl,omitempty"`
	Software         string   `json:"sw,omitempty"`
	ViaDevice        string   `json:"via_device,omitempty"`
	ConfigurationURL string   `json:"cu,omitempty"`
}

type origin struct {
	Name     string `json:"name"`
	Software string `json:"sw"`
	URL      string `json:"url"`
}

type availability struct {
	Topic string `json:"t"`
}

// deviceConfig is one device-based discovery message.
type deviceConfig struct {
	Device       device               `json:"dev"`
	Origin       origin               `json:"o"`
	Availability []availability       `json:"avty"`
	QoS          int                  `json:"qos"`
	Components   map[string]component `json:"cmps"`
}

// component is one entity; keys are Home Assistant's option names.
type component map[string]any

func valueOf(key string) string { return "{{ value_json." + key + " }}" }

func (b *Bridge) config(dev device, cmps map[string]component) []byte {
	dev.ConfigurationURL = b.opts.ConfigurationURL
	return mustJSON(deviceConfig{
		Device:       dev,
		Origin:       origin{Name: "nuki-invites", Software: b.opts.Version, URL: projectURL},
		Availability: []availability{{Topic: b.topics.availability()}},
		QoS:          1,
		Components:   cmps,
	})
}

// bridgeConfig describes the bridge device: its sync status, whether Nuki
// Web is reachable, last sync, the counts of the statuses worth watching, a
// "Sync now" button and the event entity.
func (b *Bridge) bridgeConfig() (topic string, payload []byte) {
	t := b.topics
	id := t.bridgeDevice()
	state := t.bridgeState()
	cmps := map[string]component{
		"sync_status": {
			"p": "sensor", "name": "Sync status", "icon": "mdi:cloud-sync",
			"unique_id": t.slug + "_sync_status", "default_entity_id": "sensor." + t.slug + "_sync_status",
			"state_topic": state, "value_template": valueOf("sync_status"),
			"device_class": "enum", "options": bridge.SyncStatuses,
			"json_attributes_topic": state, "json_attributes_template": syncAttributes(),
		},
		"nuki_web": {
			"p": "binary_sensor", "name": "Nuki Web",
			"unique_id": t.slug + "_nuki_web", "default_entity_id": "binary_sensor." + t.slug + "_nuki_web",
			"state_topic": t.nukiWeb(), "device_class": "connectivity", "entity_category": "diagnostic",
		},
		"last_sync": {
			"p": "sensor", "name": "Last sync",
			"unique_id": t.slug + "_last_sync", "default_entity_id": "sensor." + t.slug + "_last_sync",
			"state_topic": state, "value_template": valueOf("last_sync"),
			"device_class": "timestamp", "entity_category": "diagnostic",
		},
		"sync_now": {
			"p": "button", "name": "Sync now", "icon": "mdi:sync",
			"unique_id": t.slug + "_sync_now", "default_entity_id": "button." + t.slug + "_sync_now",
			"command_topic": t.base + "/sync", "payload_press": "{}",
		},
		"events": {
			"p": "event", "name": "Invitation event", "icon": "mdi:email-fast-outline",
			"unique_id": t.slug + "_events", "default_entity_id": "event." + t.slug + "_invitation_event",
			"state_topic": t.event(), "event_types": slices.Concat(bridge.PublicEventTypes, bridge.KeypadEventTypes, []bridge.EventType{eventCommandRefused}),
		},
	}
	counts := []struct {
		status bridge.Status
		name   string
		icon   string
	}{
		{bridge.StatusPending, "Pending", "mdi:email-outline"},
		{bridge.StatusExpiringSoon, "Expiring soon", "mdi:email-alert-outline"},
		{bridge.StatusExpired, "Expired", "mdi:email-remove-outline"},
		{bridge.StatusFailed, "Failed", "mdi:email-alert"},
	}
	for _, c := range counts {
		key := string(c.status)
		cmps[key] = component{
			"p": "sensor", "name": c.name, "icon": c.icon,
			"unique_id": t.slug + "_count_" + key, "default_entity_id": "sensor." + t.slug + "_" + key,
			"state_topic": state, "value_template": valueOf(key), "state_class": "measurement",
		}
	}
	dev := device{
		IDs: []string{id}, Name: "Nuki Invites", Manufacturer: "nuki-invites",
		Model: "Invitation bridge", Software: b.opts.Version,
	}
	return t.discovery(id), b.config(dev, cmps)
}

// lockConfig describes the device of one lock of the account, under the
// bridge device. Its entities count the lock's open app invitations and, on
// a lock with a keypad paired, its active keypad codes (lockState); without
// an entity Home Assistant would not show the device. Unique ids come from
// the lock id only; the name only shapes the suggested entity ids.
func (b *Bridge) lockConfig(lock bridge.Lock) (topic string, payload []byte) {
	t := b.topics
	id := t.lockDevice(lock.ID)
	name := slugify(lock.Name)
	if name == "" {
		name = "lock_" + strconv.FormatInt(lock.ID, 10)
	}
	title := lock.Name
	if strings.TrimSpace(title) == "" {
		title = "Nuki lock " + strconv.FormatInt(lock.ID, 10)
	}
	cmps := map[string]component{
		"open_invitations": {
			"p": "sensor", "name": "Open invitations", "icon": "mdi:email-multiple-outline",
			"unique_id": id + "_open_invitations", "default_entity_id": "sensor." + t.slug + "_" + name + "_open_invitations",
			"state_topic": t.lockState(lock.ID), "value_template": valueOf("open_invitations"), "state_class": "measurement",
		},
	}
	if lock.Keypad {
		cmps["active_keypad_codes"] = component{
			"p": "sensor", "name": "Active keypad codes", "icon": "mdi:dialpad",
			"unique_id": id + "_active_keypad_codes", "default_entity_id": "sensor." + t.slug + "_" + name + "_active_keypad_codes",
			"state_topic": t.lockState(lock.ID), "value_template": valueOf("active_keypad_codes"), "state_class": "measurement",
		}
	}
	dev := device{
		IDs: []string{id}, Name: title, Manufacturer: "Nuki", Model: lockModel(lock.Type),
		ViaDevice: t.bridgeDevice(),
	}
	return t.discovery(id), b.config(dev, cmps)
}

// lockModel names Nuki's lock types (Smartlock.type in the Nuki Web API);
// "" for a type it does not know.
func lockModel(lockType int) string {
	switch lockType {
	case 0:
		return "Smart Lock 1.0/2.0"
	case 1:
		return "Box"
	case 2:
		return "Opener"
	case 3:
		return "Smart Door"
	case 4:
		return "Smart Lock 3.0/4th generation"
	}
	return ""
}

// accessKind is what tells the device of one kind of access apart from
// the other's: an app invitation's from a keypad code's. Everything else
// (ids, topics, the device and its status sensor) is built the same way by
// inviteConfig.
type accessKind struct {
	entityPrefix string          // of the suggested entity ids, "nuki_invite_"
	devicePrefix string          // of the device's name, "Nuki invite: "
	model        string          // the device's model
	statusIcon   string          // the Status sensor's icon
	statuses     []bridge.Status // the Status sensor's options
	entities     []accessEntity  // the entities besides Status
}

// accessEntity is one entity of an access's device: a timestamp or number
// sensor reading value from the access's state, or a button sending command
// to the access's command topic.
type accessEntity struct {
	key, name, icon string
	value           string // sensor: the state key it shows
	deviceClass     string // sensor: "timestamp", or "" for a number
	diagnostic      bool   // sensor: entity_category diagnostic
	command         string // button: the command it sends ("resend")
	// hidden buttons are not enabled by default: a user enables one on
	// purpose.
	hidden bool
	// available says in which statuses a button makes sense (the core's
	// rules); elsewhere it is unavailable.
	available func(bridge.Status) bool
}

// lastUsed is the entity both kinds share: the latest entry in the lock's
// activity log.
var lastUsed = accessEntity{key: "last_used", name: "Last used", icon: "mdi:lock-open-variant-outline",
	value: "last_used", deviceClass: "timestamp"}

// The two kinds of access. An invitation shows when it was sent, when it
// expires and how often it was re-sent, and can be re-sent; a keypad code
// shows its window and has no re-send (it is revoked and made anew).
var (
	appInvitation = accessKind{
		entityPrefix: "nuki_invite_", devicePrefix: "Nuki invite: ", model: "App invitation",
		statusIcon: "mdi:email-check-outline", statuses: bridge.Statuses,
		entities: []accessEntity{
			{key: "expires", name: "Expires", value: "expires_at", deviceClass: "timestamp"},
			{key: "sent", name: "Sent", value: "sent_at", deviceClass: "timestamp"},
			lastUsed,
			{key: "resends", name: "Re-sends", icon: "mdi:email-sync-outline", value: "resend_count", diagnostic: true},
			{key: "resend", name: "Re-send", icon: "mdi:email-sync", command: "resend",
				available: func(s bridge.Status) bool { return s.Resendable() && s != bridge.StatusSending }},
			{key: "revoke", name: "Revoke", icon: "mdi:account-cancel", command: "revoke", hidden: true,
				available: func(s bridge.Status) bool { return s != bridge.StatusRevoked }},
		},
	}
	keypadCode = accessKind{
		entityPrefix: "nuki_keypad_", devicePrefix: "Nuki keypad code: ", model: "Keypad code",
		statusIcon: "mdi:dialpad", statuses: bridge.KeypadStatuses,
		entities: []accessEntity{
			{key: "window_start", name: "Window start", icon: "mdi:calendar-start", value: "window_start", deviceClass: "timestamp"},
			{key: "window_end", name: "Window end", icon: "mdi:calendar-end", value: "window_end", deviceClass: "timestamp"},
			lastUsed,
			{key: "revoke", name: "Revoke", icon: "mdi:account-cancel", command: "revoke", hidden: true,
				available: func(s bridge.Status) bool { return s != bridge.StatusRevoked && s != bridge.StatusEnded }},
		},
	}
)

// kindOf returns the kind of access inv is.
func kindOf(inv bridge.Invitation) accessKind {
	if inv.Keypad() {
		return keypadCode
	}
	return appInvitation
}

// inviteConfig describes the device of one access, an invitation or a
// keypad code (kindOf says which entities it has), under via: the device of
// its lock, or the bridge's when the account no longer lists the lock. Both
// kinds use the same topics; the id tells them apart. Unique ids come from
// the access's id only, so they never change; names only shape the
// suggested entity ids.
func (b *Bridge) inviteConfig(inv bridge.Invitation, via string) (topic string, payload []byte) {
	k := kindOf(inv)
	t := b.topics
	id := t.inviteDevice(inv.ID)
	state := t.inviteState(inv.ID)
	entity := k.entityPrefix + slugify(inv.Name+" "+inv.LockName)
	if entity == k.entityPrefix {
		entity += slugify(string(inv.ID))
	}
	uid := t.slug + "_" + slugify(string(inv.ID)) + "_"
	cmps := map[string]component{
		"status": {
			"p": "sensor", "name": "Status", "icon": k.statusIcon,
			"unique_id": uid + "status", "default_entity_id": "sensor." + entity + "_status",
			"state_topic": state, "value_template": valueOf("status"),
			"device_class": "enum", "options": k.statuses,
			"json_attributes_topic": state,
		},
	}
	for _, e := range k.entities {
		c := component{"name": e.name, "unique_id": uid + e.key}
		if e.icon != "" {
			c["icon"] = e.icon
		}
		if e.command == "" {
			c["p"], c["default_entity_id"] = "sensor", "sensor."+entity+"_"+e.key
			c["state_topic"], c["value_template"] = state, valueOf(e.value)
			if e.deviceClass != "" {
				c["device_class"] = e.deviceClass
			}
			if e.diagnostic {
				c["entity_category"] = "diagnostic"
			}
		} else {
			c["p"], c["default_entity_id"] = "button", "button."+entity+"_"+e.key
			c["command_topic"], c["payload_press"] = t.inviteCommand(inv.ID, e.command), "{}"
			c["availability"], c["availability_mode"] = b.availableIn(state, k.statuses, e.available), "all"
			if e.hidden {
				c["enabled_by_default"] = false
			}
		}
		cmps[e.key] = c
	}
	dev := device{
		IDs: []string{id}, Name: k.devicePrefix + inv.Name + " · " + inv.LockName,
		Manufacturer: "nuki-invites", Model: k.model, Software: b.opts.Version,
		ViaDevice: via,
	}
	return t.discovery(id), b.config(dev, cmps)
}

// syncAttributes is the template of the Sync status entity's attributes:
// the last error and every count, but not last_sync, which changes with
// every sync and would write a row into Home Assistant's recorder each time
// (the Last sync entity carries it).
func syncAttributes() string {
	fields := []string{"'last_error': value_json.last_error"}
	for _, st := range bridge.Statuses {
		fields = append(fields, fmt.Sprintf("'%s': value_json.%s", st, st))
	}
	return "{{ {" + strings.Join(fields, ", ") + "} | tojson }}"
}

// availableIn is the availability of a button whose action makes sense only
// in those of statuses that ok accepts (the core's rules): the bridge must be
// online, and the access's state must show one of them. Elsewhere the button
// is unavailable rather than pressable and refused.
func (b *Bridge) availableIn(state string, statuses []bridge.Status, ok func(bridge.Status) bool) []map[string]string {
	var names []string
	for _, s := range statuses {
		if ok(s) {
			names = append(names, "'"+string(s)+"'")
		}
	}
	return []map[string]string{
		{"topic": b.topics.availability()},
		{"topic": state, "value_template": "{{ 'online' if value_json.status in [" + strings.Join(names, ", ") + "] else 'offline' }}"},
	}
}
