package mqtt

import (
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// TestTopicsInReverse checks that the ids read back from topics are those
// the topics were made of, and that no other topic gives one: reconcile
// clears what they do not name.
func TestTopicsInReverse(t *testing.T) {
	tp := newTopics("nuki_invites", "homeassistant")
	for _, id := range []bridge.InviteID{bridge.MakeInviteID(101, 201), bridge.MakeKeypadID(101, 1)} {
		device, ok := tp.deviceOf(tp.discovery(tp.inviteDevice(id)))
		if got, isInvite := tp.inviteOfDevice(device); !ok || !isInvite || got != id {
			t.Errorf("invitation %s: device %q gives %q, %t", id, device, got, isInvite)
		}
		if got, ok := tp.inviteOfState(tp.inviteState(id)); !ok || got != id {
			t.Errorf("invitation %s: state topic gives %q, %t", id, got, ok)
		}
	}
	device, _ := tp.deviceOf(tp.discovery(tp.lockDevice(101)))
	if got, ok := tp.lockOfDevice(device); !ok || got != 101 {
		t.Errorf("lock 101: device %q gives %d, %t", device, got, ok)
	}
	if got, ok := tp.lockOfState(tp.lockState(101)); !ok || got != 101 {
		t.Errorf("lock 101: state topic gives %d, %t", got, ok)
	}

	for _, device := range []string{"nuki_invites_lock_0101", "nuki_invites_lock_+101", "nuki_invites_lock_", "other_lock_101", "nuki_invites_bridge"} {
		if got, ok := tp.lockOfDevice(device); ok {
			t.Errorf("device %q gives lock %d", device, got)
		}
	}
	for _, device := range []string{"nuki_invites_invite_101-201", "nuki_invites_invite_", "other_invite_101_201", "nuki_invites_lock_101"} {
		if got, ok := tp.inviteOfDevice(device); ok {
			t.Errorf("device %q gives invitation %q", device, got)
		}
	}
	for _, topic := range []string{"nuki_invites/lock/0101/state", "nuki_invites/lock/101/x/state", "nuki_invites/invite/101-201/state"} {
		if got, ok := tp.lockOfState(topic); ok {
			t.Errorf("%s gives lock %d", topic, got)
		}
	}
	for _, topic := range []string{"nuki_invites/invite//state", "nuki_invites/invite/a/b/state", "nuki_invites/lock/101/state"} {
		if got, ok := tp.inviteOfState(topic); ok {
			t.Errorf("%s gives invitation %q", topic, got)
		}
	}
	for _, topic := range []string{"homeassistant/device/x/status", "other/device/x/config"} {
		if got, ok := tp.deviceOf(topic); ok {
			t.Errorf("%s gives device %q", topic, got)
		}
	}
}
