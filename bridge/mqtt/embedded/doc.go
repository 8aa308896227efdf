// Package embedded runs a small MQTT broker inside the process, for the demo
// and for local tests where no Mosquitto is installed. It accepts anonymous
// clients, keeps retained messages in memory and supports last wills, which is
// everything the bridge relies on. Production installs use a real broker
// (the Mosquitto add-on in Home Assistant).
package embedded
