package blueprints_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// This file does what Home Assistant does with a blueprint once a user has
// filled it in: run the script's sequence, match an automation's trigger
// and render its notification.

// publish is one mqtt.publish action as Home Assistant carries it out.
type publish struct {
	Topic   string
	Payload []byte
	QoS     int64
	Retain  bool
}

// runInvite renders what one run of the invite script publishes. cfg is the
// substituted script, fields what its caller passes, contextID the run's
// context id. The script's variables are defaults the fields override, as
// in Home Assistant.
func runInvite(cfg map[string]any, fields map[string]any, contextID string, local *time.Location) (publish, error) {
	seq, _ := cfg["sequence"].([]any)
	if len(seq) != 1 {
		return publish{}, fmt.Errorf("the sequence has %d steps; the test knows one, mqtt.publish", len(seq))
	}
	step, _ := seq[0].(map[string]any)
	data, _ := step["data"].(map[string]any)
	if step["action"] != "mqtt.publish" || data == nil {
		return publish{}, fmt.Errorf("the step is not an mqtt.publish with data: %v", step)
	}
	vars := map[string]any{"context": map[string]any{"id": contextID}}
	maps.Copy(vars, fields)
	scriptVars, _ := cfg["variables"].(map[string]any)
	rendered, err := renderValues(scriptVars, vars, local)
	if err != nil {
		return publish{}, err
	}
	for k, v := range rendered {
		if _, given := fields[k]; !given {
			vars[k] = v
		}
	}
	topic, _ := data["topic"].(string)
	payload, _ := data["payload"].(string)
	var p publish
	if p.Topic, err = renderTemplate(topic, vars, local); err != nil {
		return publish{}, fmt.Errorf("topic: %w", err)
	}
	out, err := renderTemplate(payload, vars, local)
	if err != nil {
		return publish{}, fmt.Errorf("payload: %w", err)
	}
	p.Payload = []byte(out)
	p.QoS, _ = data["qos"].(int64)
	p.Retain, _ = data["retain"].(bool)
	return p, nil
}

// mqttTrigger is an automation's MQTT trigger, its topic rendered.
type mqttTrigger struct {
	Topic         string
	ValueTemplate string
	Payload       string
}

// automationTrigger returns the one MQTT trigger of a substituted automation.
func automationTrigger(cfg map[string]any, local *time.Location) (mqttTrigger, error) {
	triggers, _ := cfg["triggers"].([]any)
	if len(triggers) != 1 {
		return mqttTrigger{}, fmt.Errorf("%d triggers; the test knows one", len(triggers))
	}
	tr, _ := triggers[0].(map[string]any)
	if tr["trigger"] != "mqtt" {
		return mqttTrigger{}, fmt.Errorf("the trigger is not an MQTT trigger: %v", tr)
	}
	tv, _ := cfg["trigger_variables"].(map[string]any)
	vars, err := renderValues(tv, nil, local)
	if err != nil {
		return mqttTrigger{}, err
	}
	topic, _ := tr["topic"].(string)
	var out mqttTrigger
	if out.Topic, err = renderTemplate(topic, vars, local); err != nil {
		return mqttTrigger{}, err
	}
	out.ValueTemplate, _ = tr["value_template"].(string)
	out.Payload, _ = tr["payload"].(string)
	if out.ValueTemplate == "" || out.Payload == "" {
		return mqttTrigger{}, errors.New("the trigger needs value_template and payload")
	}
	return out, nil
}

// fires reports whether the trigger fires for a message: the same topic, and
// the value template, given the payload as value_json, renders to payload.
func (tr mqttTrigger) fires(topic string, payload []byte, local *time.Location) (bool, error) {
	if topic != tr.Topic {
		return false, nil
	}
	var value any
	if err := json.Unmarshal(payload, &value); err != nil {
		return false, err
	}
	got, err := renderTemplate(tr.ValueTemplate, map[string]any{"value_json": jsonToTemplate(value)}, local)
	if err != nil {
		return false, err
	}
	return got == tr.Payload, nil
}

// notification is the notify action an automation calls.
type notification struct {
	Action, Title, Message string
}

// notify renders the automation's one action for an MQTT message that
// fired it.
func notify(cfg map[string]any, topic string, payload []byte, local *time.Location) (notification, error) {
	actions, _ := cfg["actions"].([]any)
	if len(actions) != 1 {
		return notification{}, fmt.Errorf("%d actions; the test knows one", len(actions))
	}
	step, _ := actions[0].(map[string]any)
	data, _ := step["data"].(map[string]any)
	var value any
	if err := json.Unmarshal(payload, &value); err != nil {
		return notification{}, err
	}
	vars := map[string]any{"trigger": map[string]any{
		"platform": "mqtt", "topic": topic, "payload": string(payload), "payload_json": jsonToTemplate(value),
	}}
	var n notification
	n.Action, _ = step["action"].(string)
	var err error
	title, _ := data["title"].(string)
	if n.Title, err = renderTemplate(title, vars, local); err != nil {
		return notification{}, fmt.Errorf("title: %w", err)
	}
	message, _ := data["message"].(string)
	if n.Message, err = renderTemplate(message, vars, local); err != nil {
		return notification{}, fmt.Errorf("message: %w", err)
	}
	return n, nil
}

// jsonToTemplate turns decoded JSON into the template's values: whole
// numbers become int64.
func jsonToTemplate(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonToTemplate(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonToTemplate(e)
		}
		return out
	}
	return v
}
