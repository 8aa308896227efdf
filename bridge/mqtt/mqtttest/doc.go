// Package mqtttest gives tests a real MQTT broker and a client that records
// what it receives.
//
// Broker returns the URL of the shared broker: in CI (CI=true) always the
// Mosquitto at 127.0.0.1:1883, elsewhere that one when it answers, otherwise an
// embedded broker started for the test. StartMosquitto runs a private
// Mosquitto process that a test may stop and start again to simulate a broker
// restart. Tests share brokers, so each one picks its own topics with Unique.
package mqtttest
