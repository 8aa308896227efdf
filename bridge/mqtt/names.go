package mqtt

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// topics names every topic and id of one bridge.
type topics struct {
	base   string // MQTT_BASE_TOPIC
	prefix string // MQTT_DISCOVERY_PREFIX
	slug   string // base as an id fragment: device ids, unique ids
	invite *regexp.Regexp
	lock   *regexp.Regexp
}

func newTopics(base, prefix string) topics {
	slug := slugify(base)
	if slug == "" {
		slug = "nuki_invites"
	}
	return topics{
		base: base, prefix: prefix, slug: slug,
		invite: regexp.MustCompile("^" + regexp.QuoteMeta(slug) + `_invite_[0-9]+_[0-9]+$`),
		lock:   regexp.MustCompile("^" + regexp.QuoteMeta(slug) + `_lock_[0-9]+$`),
	}
}

func (t topics) availability() string { return t.base + "/availability" }
func (t topics) bridgeState() string  { return t.base + "/bridge/state" }
func (t topics) nukiWeb() string      { return t.base + "/bridge/nuki_web" }
func (t topics) event() string        { return t.base + "/event" }
func (t topics) result() string       { return t.base + "/result" }
func (t topics) scanMarker() string   { return t.base + "/bridge/scan" }
func (t topics) haStatus() string     { return t.prefix + "/status" }

// keypadUnmanaged lists the keypad codes made elsewhere; keypadAdopt takes
// one on.
func (t topics) keypadUnmanaged() string { return t.base + "/keypad/unmanaged" }
func (t topics) keypadAdopt() string     { return t.base + "/keypad/adopt" }

func (t topics) inviteState(id bridge.InviteID) string {
	return t.base + "/invite/" + string(id) + "/state"
}

func (t topics) inviteCode(id bridge.InviteID) string {
	return t.base + "/invite/" + string(id) + "/code"
}

func (t topics) inviteCommand(id bridge.InviteID, action string) string {
	return t.base + "/invite/" + string(id) + "/" + action
}

func (t topics) lockState(id int64) string {
	return t.base + "/lock/" + strconv.FormatInt(id, 10) + "/state"
}

// commandFilters are the command subscriptions. They leave out the topics
// the bridge publishes itself (state, code), so it never hears its own
// messages; the three-level filter also catches unknown sub-commands such as
// code/set, which get an error answer.
func (t topics) commandFilters() []string {
	return []string{
		t.base + "/sync",
		t.base + "/invite/create",
		t.keypadAdopt(),
		t.base + "/invite/+/resend",
		t.base + "/invite/+/revoke",
		t.base + "/invite/+/+/+",
	}
}

// stateFilter matches every invitation state topic, for the start-up scan.
func (t topics) stateFilter() string { return t.base + "/invite/+/state" }

// lockStateFilter matches every lock state topic, for the start-up scan.
func (t topics) lockStateFilter() string { return t.base + "/lock/+/state" }

func (t topics) isInviteState(topic string) bool { return t.isStateUnder(topic, "/invite/") }

func (t topics) isLockState(topic string) bool { return t.isStateUnder(topic, "/lock/") }

// isStateUnder reports whether topic is <base><dir><id>/state for one id.
func (t topics) isStateUnder(topic, dir string) bool {
	_, ok := t.stateUnder(topic, dir)
	return ok
}

// stateUnder returns the id of a topic <base><dir><id>/state.
func (t topics) stateUnder(topic, dir string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(topic, t.base+dir)
	if !ok {
		return "", false
	}
	id, ok = strings.CutSuffix(rest, "/state")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// inviteOfState returns the invitation whose state topic is topic
// (inviteState in reverse).
func (t topics) inviteOfState(topic string) (bridge.InviteID, bool) {
	id, ok := t.stateUnder(topic, "/invite/")
	return bridge.InviteID(id), ok
}

// lockOfState returns the lock whose state topic is topic (lockState in
// reverse).
func (t topics) lockOfState(topic string) (int64, bool) {
	id, ok := t.stateUnder(topic, "/lock/")
	if !ok {
		return 0, false
	}
	return canonicalInt(id)
}

func (t topics) bridgeDevice() string { return t.slug + "_bridge" }

func (t topics) lockDevice(id int64) string {
	return t.slug + "_lock_" + strconv.FormatInt(id, 10)
}

func (t topics) inviteDevice(id bridge.InviteID) string {
	return t.slug + "_invite_" + strings.ReplaceAll(string(id), "-", "_")
}

func (t topics) discovery(deviceID string) string {
	return t.prefix + "/device/" + deviceID + "/config"
}

// deviceOf returns the device id of a discovery topic (discovery in
// reverse).
func (t topics) deviceOf(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, t.prefix+"/device/")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "/config")
}

// lockOfDevice returns the lock whose device id is id (lockDevice in
// reverse).
func (t topics) lockOfDevice(id string) (int64, bool) {
	n, ok := strings.CutPrefix(id, t.slug+"_lock_")
	if !ok {
		return 0, false
	}
	return canonicalInt(n)
}

// inviteOfDevice returns the invitation whose device id is id (inviteDevice
// in reverse). Invitation ids hold no underscore (bridge.MakeInviteID,
// bridge.MakeKeypadID), so every underscore stands for a hyphen.
func (t topics) inviteOfDevice(id string) (bridge.InviteID, bool) {
	rest, ok := strings.CutPrefix(id, t.slug+"_invite_")
	if !ok || rest == "" || strings.Contains(rest, "-") {
		return "", false
	}
	return bridge.InviteID(strings.ReplaceAll(rest, "_", "-")), true
}

// canonicalInt reads s as strconv.FormatInt spells an int64, and nothing
// else.
func canonicalInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// discoveryFilter matches every device discovery topic, for the start-up scan.
func (t topics) discoveryFilter() string { return t.prefix + "/device/+/config" }

// ownsDiscovery reports whether a discovery topic names one of our devices.
func (t topics) ownsDiscovery(topic string) bool {
	rest, ok := strings.CutPrefix(topic, t.prefix+"/device/")
	if !ok {
		return false
	}
	id, ok := strings.CutSuffix(rest, "/config")
	return ok && (id == t.bridgeDevice() || t.lock.MatchString(id) || t.invite.MatchString(id))
}

// folded spells common accented letters in ASCII, as Home Assistant's own
// slugs do.
var folded = map[rune]string{
	'ä': "a", 'á': "a", 'à': "a", 'â': "a", 'ã': "a", 'å': "a", 'æ': "ae",
	'ç': "c", 'č': "c", 'ć': "c", 'ď': "d",
	'é': "e", 'è': "e", 'ê': "e", 'ë': "e", 'ě': "e",
	'í': "i", 'ì': "i", 'î': "i", 'ï': "i",
	'ñ': "n", 'ň': "n",
	'ö': "o", 'ó': "o", 'ò': "o", 'ô': "o", 'õ': "o", 'ø': "o", 'œ': "oe",
	'ř': "r", 'š': "s", 'ś': "s", 'ß': "ss", 'ť': "t",
	'ü': "u", 'ú': "u", 'ù': "u", 'û': "u", 'ů': "u",
	'ý': "y", 'ÿ': "y", 'ž': "z", 'ź': "z", 'ż': "z", 'ł': "l",
}

// slugify turns a name into lower-case letters, digits and single
// underscores, e.g. "Zoë · Front door" → "zoe_front_door".
func slugify(s string) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
		case folded[r] != "":
		default:
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte('_')
			gap = false
		}
		if f := folded[r]; f != "" {
			b.WriteString(f)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
