package blueprints_test

import (
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// sourceURLBase is where Home Assistant's import finds the files.
const sourceURLBase = "https://github.com/nuki-invites/nuki-invites/blob/main/blueprints/"

// selectorTypes are the selectors Home Assistant knows
// (homeassistant/helpers/selector.py).
var selectorTypes = []string{
	"action", "addon", "area", "assist_pipeline", "attribute", "backup_location", "boolean", "color_rgb",
	"color_temp", "condition", "config_entry", "constant", "conversation_agent", "country", "date", "datetime",
	"device", "duration", "entity", "file", "floor", "icon", "label", "language", "location", "media", "number",
	"object", "qr_code", "select", "state", "statistic", "target", "template", "text", "theme", "time", "trigger",
}

// textTypes are the text selector's input types.
var textTypes = []string{"color", "date", "datetime-local", "email", "month", "number", "password", "search",
	"tel", "text", "time", "url", "week"}

// TestEveryFileIsKnown makes sure the checks below see every blueprint in
// the folder, and that each one they expect is there.
func TestEveryFileIsKnown(t *testing.T) {
	var found []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			found = append(found, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	if want := slices.Sorted(slices.Values(allBlueprints)); !slices.Equal(found, want) {
		t.Errorf("blueprint files %v, want %v", found, want)
	}
}

// TestBlueprintForm checks each file against Home Assistant's blueprint
// schema and our conventions.
func TestBlueprintForm(t *testing.T) {
	minVersion := addonMinVersion(t)
	for _, path := range allBlueprints {
		t.Run(path, func(t *testing.T) {
			b := load(t, path)
			for _, p := range formProblems(b, minVersion) {
				t.Error(p)
			}
		})
	}
}

// addonMinVersion is the add-on's homeassistant: requirement in config.yaml.
func addonMinVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HomeAssistant string `yaml:"homeassistant"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil || cfg.HomeAssistant == "" {
		t.Fatalf("config.yaml has no homeassistant: version (%v)", err)
	}
	return cfg.HomeAssistant
}

// formProblems lists every way b departs from the blueprint form.
func formProblems(b blueprint, addonMin string) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	p = append(p, ambiguities(b.node)...)
	meta := b.meta()
	if meta == nil {
		return append(p, "no blueprint: section")
	}
	for k := range meta {
		if !slices.Contains([]string{"name", "description", "domain", "author", "homeassistant", "input", "source_url"}, k) {
			bad("blueprint: unknown key %s", k)
		}
	}
	for _, k := range []string{"name", "description", "author"} {
		if s, _ := meta[k].(string); strings.TrimSpace(s) == "" {
			bad("blueprint: %s is missing or empty", k)
		}
	}
	domain := strings.Split(b.path, "/")[0]
	if meta["domain"] != domain {
		bad("blueprint: domain %v, but the file is in the %s folder", meta["domain"], domain)
	}
	if want := sourceURLBase + b.path; meta["source_url"] != want {
		bad("blueprint: source_url %v, want %s", meta["source_url"], want)
	}
	ha, _ := meta["homeassistant"].(map[string]any)
	if v, _ := ha["min_version"].(string); v == "" {
		bad("blueprint: homeassistant: min_version is missing")
	} else if cmp, err := compareVersions(v, addonMin); err != nil {
		bad("blueprint: homeassistant: min_version: %v", err)
	} else if cmp < 0 {
		bad("blueprint: min_version %s is older than the add-on's %s (config.yaml)", v, addonMin)
	}

	inputs := b.inputs()
	if len(inputs) == 0 {
		bad("blueprint: no inputs")
	}
	for _, name := range slices.Sorted(maps.Keys(inputs)) {
		decl := inputs[name]
		for k := range decl {
			if !slices.Contains([]string{"name", "description", "selector", "default"}, k) {
				bad("input %s: unknown key %s", name, k)
			}
		}
		if s, _ := decl["name"].(string); s == "" {
			bad("input %s has no name", name)
		}
		def, hasDefault := decl["default"]
		for _, sp := range selectorProblems(decl["selector"], def, hasDefault) {
			bad("input %s: %s", name, sp)
		}
	}
	used := b.references()
	for _, name := range used {
		if _, ok := inputs[name]; !ok {
			bad("!input %s is not declared", name)
		}
	}
	for name := range inputs {
		if !slices.Contains(used, name) {
			bad("input %s is declared but never used", name)
		}
	}

	switch domain {
	case "script":
		p = append(p, scriptProblems(b.doc)...)
	case "automation":
		p = append(p, automationProblems(b.doc)...)
	}
	for _, s := range templates(b.doc) {
		if _, err := parseTemplate(s); err != nil {
			bad("template: %v", err)
		}
	}
	return p
}

var modes = []string{"single", "restart", "queued", "parallel"}

func scriptProblems(doc map[string]any) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	for k := range doc {
		if !slices.Contains([]string{"blueprint", "mode", "max", "max_exceeded", "icon", "description", "variables", "fields", "sequence"}, k) {
			bad("unknown script key %s", k)
		}
	}
	if m, ok := doc["mode"]; ok && !slices.Contains(modes, fmt.Sprint(m)) {
		bad("mode %v is not one of %v", m, modes)
	}
	if seq, _ := doc["sequence"].([]any); len(seq) == 0 {
		bad("the script has no sequence")
	}
	fields, _ := doc["fields"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		f, _ := fields[name].(map[string]any)
		for k := range f {
			if !slices.Contains([]string{"name", "description", "required", "example", "default", "selector", "advanced"}, k) {
				bad("field %s: unknown key %s", name, k)
			}
		}
		if s, _ := f["name"].(string); s == "" {
			bad("field %s has no name", name)
		}
		def, hasDefault := f["default"]
		for _, sp := range selectorProblems(f["selector"], def, hasDefault) {
			bad("field %s: %s", name, sp)
		}
	}
	return p
}

func automationProblems(doc map[string]any) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	for k := range doc {
		if !slices.Contains([]string{"blueprint", "mode", "max", "max_exceeded", "description", "trigger_variables", "variables", "triggers", "conditions", "actions"}, k) {
			bad("unknown automation key %s (the plural forms triggers, conditions, actions are the current ones)", k)
		}
	}
	if m, ok := doc["mode"]; ok && !slices.Contains(modes, fmt.Sprint(m)) {
		bad("mode %v is not one of %v", m, modes)
	}
	triggers, _ := doc["triggers"].([]any)
	if len(triggers) == 0 {
		bad("the automation has no triggers")
	}
	for i, tr := range triggers {
		if m, _ := tr.(map[string]any); m["trigger"] == nil {
			bad("trigger %d: no trigger: key (platform: is the old form)", i)
		}
	}
	actions, _ := doc["actions"].([]any)
	if len(actions) == 0 {
		bad("the automation has no actions")
	}
	for i, a := range actions {
		if m, _ := a.(map[string]any); m["service"] != nil {
			bad("action %d: service: is the old form of action:", i)
		}
	}
	return p
}

// selectorProblems checks a selector, and a default against it.
func selectorProblems(sel any, def any, hasDefault bool) []string {
	m, ok := sel.(map[string]any)
	if !ok || len(m) != 1 {
		return []string{fmt.Sprintf("the selector must name exactly one type, not %v", sel)}
	}
	var kind string
	for kind = range m {
	}
	if !slices.Contains(selectorTypes, kind) {
		return []string{fmt.Sprintf("unknown selector type %s", kind)}
	}
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	cfg, _ := m[kind].(map[string]any)
	if m[kind] != nil && cfg == nil {
		return []string{fmt.Sprintf("%s selector: its options must be a mapping", kind)}
	}
	allowed := map[string][]string{
		"select":   {"options", "multiple", "custom_value", "mode", "translation_key", "sort"},
		"text":     {"multiline", "prefix", "suffix", "type", "autocomplete", "multiple"},
		"boolean":  {},
		"datetime": {},
		"time":     {},
	}
	keys, known := allowed[kind]
	if !known {
		return []string{fmt.Sprintf("%s selector: this test does not check it yet; teach it the selector's options", kind)}
	}
	for k := range cfg {
		if k != "read_only" && !slices.Contains(keys, k) {
			bad("%s selector: unknown option %s", kind, k)
		}
	}
	switch kind {
	case "text":
		if ty, ok := cfg["type"]; ok && !slices.Contains(textTypes, fmt.Sprint(ty)) {
			bad("text selector: type %v is not one of %v", ty, textTypes)
		}
		if hasDefault {
			if _, ok := def.(string); !ok {
				bad("default %v is not text", def)
			}
		}
	case "boolean":
		if _, ok := def.(bool); hasDefault && !ok {
			bad("default %v is not true or false", def)
		}
	case "select":
		values, fromInput, err := selectValues(cfg["options"])
		if err != nil {
			bad("select selector: %v", err)
		}
		custom, _ := cfg["custom_value"].(bool)
		if len(values) == 0 && !fromInput && !custom {
			bad("select selector: no options, and no custom values allowed")
		}
		if hasDefault && !custom && !fromInput {
			defaults := []any{def}
			if multiple, _ := cfg["multiple"].(bool); multiple {
				defaults, _ = def.([]any)
			}
			for _, d := range defaults {
				if !slices.Contains(values, fmt.Sprint(d)) {
					bad("default %v is not one of the options %v", d, values)
				}
			}
		}
	}
	return p
}

// selectValues returns the values of a select selector's options: strings,
// or mappings of value and label. Options from an !input are checked where
// the input is.
func selectValues(options any) (values []string, fromInput bool, err error) {
	if _, ok := options.(input); ok {
		return nil, true, nil
	}
	list, ok := options.([]any)
	if !ok {
		return nil, false, fmt.Errorf("options must be a list, not %v", options)
	}
	for _, o := range list {
		switch x := o.(type) {
		case string:
			values = append(values, x)
		case map[string]any:
			v, vok := x["value"].(string)
			l, lok := x["label"].(string)
			if !vok || !lok || len(x) != 2 {
				return nil, false, fmt.Errorf("option %v must have a value and a label, both text", x)
			}
			if l == "" {
				return nil, false, fmt.Errorf("option %s has an empty label", v)
			}
			values = append(values, v)
		default:
			return nil, false, fmt.Errorf("option %v must be text or a value and label", o)
		}
	}
	return values, false, nil
}

// templates returns every string in v that holds a template.
func templates(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "{{") || strings.Contains(x, "{%") {
			out = append(out, x)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if k != "blueprint" {
				out = append(out, templates(x[k])...)
			}
		}
	case []any:
		for _, e := range x {
			out = append(out, templates(e)...)
		}
	}
	return out
}

var versionRE = regexp.MustCompile(`^([0-9]+)\.([0-9]+)\.([0-9]+)$`)

// compareVersions compares Home Assistant versions year.month.patch.
func compareVersions(a, b string) (int, error) {
	ma, mb := versionRE.FindStringSubmatch(a), versionRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return 0, fmt.Errorf("versions must be major.minor.patch, not %q and %q", a, b)
	}
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(ma[i])
		y, _ := strconv.Atoi(mb[i])
		if x != y {
			if x < y {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

// TestScriptChoicesAreTheDaemons checks that the script offers exactly the
// languages and deliveries the daemon takes.
func TestScriptChoicesAreTheDaemons(t *testing.T) {
	b := load(t, inviteScript)
	fields, _ := b.doc["fields"].(map[string]any)
	options := func(field string) []string {
		f, _ := fields[field].(map[string]any)
		sel, _ := f["selector"].(map[string]any)
		cfg, _ := sel["select"].(map[string]any)
		values, _, err := selectValues(cfg["options"])
		if err != nil {
			t.Fatalf("field %s: %v", field, err)
		}
		return values
	}
	if got, want := slices.Sorted(slices.Values(options("language"))), slices.Sorted(slices.Values(bridge.Languages)); !slices.Equal(got, want) {
		t.Errorf("languages offered %v, the daemon's %v", got, want)
	}
	for _, d := range options("delivery") {
		if !bridge.Delivery(d).Valid() {
			t.Errorf("delivery %q is not one the daemon takes", d)
		}
	}
	if got := options("delivery"); len(got) != 2 {
		t.Errorf("deliveries offered %v, want nuki and custom", got)
	}
}

// TestAutomationsListenToDaemonEvents checks that each automation triggers
// on <base>/event for event types the daemon publishes (every choice the
// user has included), and that together they cover acceptance, expiry
// warnings and expiry.
func TestAutomationsListenToDaemonEvents(t *testing.T) {
	local := berlin(t)
	covered := map[bridge.EventType]bool{}
	for _, path := range []string{accepted, expiring, expired} {
		b := load(t, path)
		for _, choice := range eventChoices(t, b) {
			cfg := b.substitute(t, choice.values)
			tr, err := automationTrigger(cfg, local)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if tr.Topic != "home/nuki/event" {
				t.Errorf("%s listens on %s with base topic home/nuki, want home/nuki/event", path, tr.Topic)
			}
			ev := bridge.EventType(tr.Payload)
			if !ev.Public() {
				t.Errorf("%s waits for event %q, which the daemon never publishes (it publishes %v)", path, ev, bridge.PublicEventTypes)
			}
			covered[ev] = true
			for _, other := range bridge.PublicEventTypes {
				fired, err := tr.fires(tr.Topic, eventJSON(other, "Alice", "Front door"), local)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if fired != (other == ev) {
					t.Errorf("%s waiting for %s: fires for %s: %t", path, ev, other, fired)
				}
			}
		}
	}
	for _, want := range []bridge.EventType{bridge.EventAccepted, bridge.EventExpiringSoon, bridge.EventReminder, bridge.EventExpired} {
		if !covered[want] {
			t.Errorf("no automation blueprint offers the %s event", want)
		}
	}
}

// choice is one set of input values a user may pick.
type choice struct {
	name   string
	values map[string]any
}

// eventChoices returns the input values to try for an automation: the base
// topic home/nuki, and each option of an event_type input if it has one.
func eventChoices(t *testing.T, b blueprint) []choice {
	t.Helper()
	base := map[string]any{"base_topic": "home/nuki"}
	decl, ok := b.inputs()["event_type"]
	if !ok {
		return []choice{{"default", base}}
	}
	sel, _ := decl["selector"].(map[string]any)
	cfg, _ := sel["select"].(map[string]any)
	values, _, err := selectValues(cfg["options"])
	if err != nil || len(values) == 0 {
		t.Fatalf("%s: event_type must be a select of event types (%v)", b.path, err)
	}
	var out []choice
	for _, v := range values {
		out = append(out, choice{v, map[string]any{"base_topic": "home/nuki", "event_type": v}})
	}
	return out
}

// eventJSON is an event as DOCS.md describes <base>/event.
func eventJSON(ev bridge.EventType, name, lock string) []byte {
	return fmt.Appendf(nil, `{"event_type":%q,"invite_id":"17000000001-1001","name":%q,"lock":%q,"at":"2026-05-01T10:00:00Z"}`, ev, name, lock)
}

// TestNotificationsNameGuestAndLock renders each automation's notification
// for an event of its kind.
func TestNotificationsNameGuestAndLock(t *testing.T) {
	local := berlin(t)
	for _, path := range []string{accepted, expiring, expired} {
		b := load(t, path)
		cfg := b.substitute(t, map[string]any{"notify_action": "notify.mobile_app_pixel"})
		tr, err := automationTrigger(cfg, local)
		if err != nil {
			t.Fatal(err)
		}
		n, err := notify(cfg, tr.Topic, eventJSON(bridge.EventType(tr.Payload), "Zoë Müller", "Front door"), local)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if n.Action != "notify.mobile_app_pixel" {
			t.Errorf("%s calls %s, not the notify action the user chose", path, n.Action)
		}
		if !strings.Contains(n.Message, "Zoë Müller") || !strings.Contains(n.Message, "Front door") {
			t.Errorf("%s: the message %q names neither the guest nor the lock", path, n.Message)
		}
		if n.Title == "" {
			t.Errorf("%s: no title", path)
		}
		def, _ := b.inputs()["notify_action"]["default"].(string)
		if !strings.HasPrefix(def, "notify.") {
			t.Errorf("%s: the default notify action %q is not a notify action", path, def)
		}
	}
}

// rawURLBase is where Home Assistant's import link fetches a file from.
const rawURLBase = "https://raw.githubusercontent.com/nuki-invites/nuki-invites/main/blueprints/"

var importLink = regexp.MustCompile(`https://my\.home-assistant\.io/create-link/\?redirect=blueprint_import&blueprint_url=([^)\s"'>]+)`)

// TestDocsLinkEveryBlueprint checks DOCS.md's import links: each one opens a
// blueprint of this folder, and every blueprint has one.
func TestDocsLinkEveryBlueprint(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "DOCS.md"))
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, m := range importLink.FindAllStringSubmatch(string(docs), -1) {
		raw, err := url.QueryUnescape(m[1])
		if err != nil {
			t.Errorf("%s: %v", m[0], err)
			continue
		}
		path, ok := strings.CutPrefix(raw, rawURLBase)
		if !ok || !slices.Contains(allBlueprints, path) {
			t.Errorf("DOCS.md links %s, which is not a blueprint here (want %s<path>)", raw, rawURLBase)
			continue
		}
		linked[path] = true
	}
	for _, path := range allBlueprints {
		if !linked[path] {
			t.Errorf("DOCS.md has no import link for %s", path)
		}
	}
}
