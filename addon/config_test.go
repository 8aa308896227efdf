package addon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/config"
)

// Paths from this package's directory: the add-on files are at the
// repository root, the linter's schema in the shared folder beside it.
const (
	rootDir    = ".."
	schemaPath = "../../shared/reference/home-assistant/addon-config.schema.json"
)

// readYAML reads a YAML file and returns it as JSON would decode it, so the
// JSON schema and encoding/json see the same numbers and maps.
func readYAML(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rootDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out map[string]any
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatalf("%s is not a mapping: %v", name, err)
	}
	return out
}

// readSchema returns the linter's schema as JSON, or skips the test when the
// shared reference folder is not beside the repository.
func readSchema(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("the add-on linter's schema is not at %s (the shared reference folder beside the repository); cannot check config.yaml against it", schemaPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigYAMLPassesTheLinterSchema(t *testing.T) {
	schemaJSON := readSchema(t)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("addon-config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("addon-config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(cfg map[string]any) error {
		j, err := json.Marshal(cfg)
		if err != nil {
			return err
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			return err
		}
		return schema.Validate(v)
	}

	cfg := readYAML(t, "config.yaml")
	if err := validate(cfg); err != nil {
		t.Fatalf("config.yaml does not pass the linter's schema:\n%v", err)
	}
	// The schema must be able to fail, or the check above proves nothing.
	broken := maps.Clone(cfg)
	broken["arch"] = []any{"sparc"}
	broken["watchdog_interval"] = 5
	if err := validate(broken); err == nil {
		t.Fatal("the schema accepted an unknown key and architecture; it is not being applied")
	}
}

// conventionDefaults are the linter's defaults named in the add-on
// conventions, checked even when the schema file is absent.
var conventionDefaults = map[string]any{
	"boot": "auto", "startup": "application", "init": true, "ingress_port": 8099.0,
	"hassio_api": false, "backup": "hot",
}

// lintProblems applies the linter's rules beyond the schema: no key may be
// set to its default, no watchdog (a Docker HEALTHCHECK instead), no webui
// together with ingress.
func lintProblems(cfg map[string]any, defaults map[string]any) []string {
	var problems []string
	for _, key := range slices.Sorted(maps.Keys(cfg)) {
		if def, ok := defaults[key]; ok && reflect.DeepEqual(cfg[key], def) {
			problems = append(problems, fmt.Sprintf("%s is set to its default %v", key, def))
		}
	}
	if _, ok := cfg["watchdog"]; ok {
		problems = append(problems, "watchdog is set; use a Docker HEALTHCHECK")
	}
	if _, ok := cfg["webui"]; ok && cfg["ingress"] == true {
		problems = append(problems, "webui is set together with ingress")
	}
	return problems
}

func TestConfigYAMLSetsNoKeyToItsDefault(t *testing.T) {
	defaults := maps.Clone(conventionDefaults)
	if b, err := os.ReadFile(schemaPath); err == nil {
		var schema struct {
			Properties map[string]struct {
				Default *any `json:"default"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatal(err)
		}
		for key, p := range schema.Properties {
			if p.Default != nil {
				defaults[key] = *p.Default
			}
		}
	} else {
		t.Logf("schema absent (%v): checking only the defaults named in the conventions", err)
	}

	cfg := readYAML(t, "config.yaml")
	for _, p := range lintProblems(cfg, defaults) {
		t.Errorf("config.yaml: %s", p)
	}

	// The rule must catch what the linter catches.
	for _, tc := range []struct {
		key   string
		value any
	}{{"init", true}, {"boot", "auto"}, {"ingress_port", 8099.0}, {"watchdog", "http://[HOST]:[PORT:8099]/healthz"}, {"webui", "http://[HOST]:[PORT:8099]/"}} {
		t.Run("catches "+tc.key, func(t *testing.T) {
			bad := maps.Clone(cfg)
			bad[tc.key] = tc.value
			if len(lintProblems(bad, defaults)) == 0 {
				t.Errorf("%s: %v passed the lint rules", tc.key, tc.value)
			}
		})
	}
}

// schemaElement is one type of the Supervisor's option schema language.
var schemaElement = regexp.MustCompile(`^(?:(str|password|bool|email|url|port)|int(?:\((-?\d+)?,(-?\d+)?\))?|match\((.+)\)|list\((.+)\))(\?)?$`)

// checkOption applies the Supervisor's option type typ to value v (as
// decoded from JSON), for the types this add-on uses.
func checkOption(typ string, v any) error {
	m := schemaElement.FindStringSubmatch(typ)
	if m == nil {
		return fmt.Errorf("unknown schema type %q", typ)
	}
	s, isString := v.(string)
	switch {
	case m[1] == "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%v is not a bool", v)
		}
	case m[1] == "email":
		if !isString || !strings.Contains(s, "@") {
			return fmt.Errorf("%v is not an email address", v)
		}
	case m[1] != "":
		if !isString {
			return fmt.Errorf("%v is not text", v)
		}
	case m[4] != "":
		if !isString || !regexp.MustCompile(m[4]).MatchString(s) {
			return fmt.Errorf("%v does not match %s", v, m[4])
		}
	case m[5] != "":
		if !isString || !slices.Contains(strings.Split(m[5], "|"), s) {
			return fmt.Errorf("%v is not one of %s", v, m[5])
		}
	default: // int
		f, ok := v.(float64)
		if !ok || f != float64(int(f)) {
			return fmt.Errorf("%v is not a whole number", v)
		}
		if lo, err := strconv.Atoi(m[2]); err == nil && int(f) < lo {
			return fmt.Errorf("%v is below %d", v, lo)
		}
		if hi, err := strconv.Atoi(m[3]); err == nil && int(f) > hi {
			return fmt.Errorf("%v is above %d", v, hi)
		}
	}
	return nil
}

// optionSchema returns config.yaml's options and schema.
func optionSchema(t *testing.T) (options map[string]any, schema map[string]string) {
	t.Helper()
	cfg := readYAML(t, "config.yaml")
	options, _ = cfg["options"].(map[string]any)
	raw, _ := cfg["schema"].(map[string]any)
	schema = make(map[string]string, len(raw))
	for name, typ := range raw {
		s, ok := typ.(string)
		if !ok {
			t.Fatalf("schema %s: %v is not a type name", name, typ)
		}
		schema[name] = s
	}
	return options, schema
}

// samples holds, for every option, two values the Supervisor accepts and the
// daemon reads differently: the first builds a complete options.json, the
// second must change exactly the option's own field of config.Config.
var samples = map[string][2]any{
	"nuki_api_token":        {"token-a", "token-b"},
	"nuki_advanced_api":     {false, true},
	"nuki_webhook_secret":   {"hook-a", "hook-b"},
	"invite_validity":       {"48h", "72h"},
	"reminder_before":       {"12h", "6h"},
	"reminder_schedule":     {"*/15 * * * *", "0 * * * *"},
	"sync_interval":         {"5m", "15m"},
	"resend_cooldown":       {"10m", "30m"},
	"confirm_timeout":       {"1h", "20m"},
	"auto_resend_after":     {"0", "6h"},
	"auto_resend_on_expiry": {false, true},
	"auto_resend_max":       {2.0, 5.0},
	"expose_codes":          {false, true},
	"keypad_email_before":   {"24h", "0"},
	"keypad_cleanup_after":  {"24h", "off"},
	"smtp_url":              {"smtp://me:pw@mail.example.com:587", "smtps://me:pw@mail.example.com:465"},
	"smtp_from":             {"Flat <flat@example.com>", "Other <other@example.com>"},
	"admin_email":           {"admin@example.com", "owner@example.com"},
	"time_zone":             {"Europe/Berlin", "America/New_York"},
	"mqtt_url":              {"tcp://broker.example:1883", "ssl://broker.example:8883"},
	"mqtt_username":         {"user-a", "user-b"},
	"mqtt_password":         {"pass-a", "pass-b"},
	"mqtt_base_topic":       {"nuki_invites", "flat_invites"},
	"mqtt_discovery_prefix": {"homeassistant", "ha"},
	"ha_retention":          {"168h", "24h"},
	"log_level":             {"info", "debug"},
}

func TestConfigYAMLOptionsMatchTheMapping(t *testing.T) {
	options, schema := optionSchema(t)
	var mapped []string
	for _, o := range mapping {
		mapped = append(mapped, o.name)
	}
	if got, want := slices.Sorted(maps.Keys(schema)), slices.Sorted(slices.Values(mapped)); !slices.Equal(got, want) {
		t.Errorf("config.yaml schema has options %v,\nthe add-on maps %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(samples)), slices.Sorted(slices.Values(mapped)); !slices.Equal(got, want) {
		t.Errorf("the test has samples for %v,\nthe add-on maps %v", got, want)
	}
	for name, value := range options {
		typ, ok := schema[name]
		if !ok {
			t.Errorf("options.%s has no schema entry", name)
			continue
		}
		if strings.HasSuffix(typ, "?") {
			t.Errorf("options.%s is optional (%s) but has a default; the Supervisor expects optional options to be left out", name, typ)
		}
		if err := checkOption(typ, value); err != nil && name != optToken {
			t.Errorf("default of %s: %v", name, err)
		}
	}
	for name, typ := range schema {
		if !strings.HasSuffix(typ, "?") {
			if _, ok := options[name]; !ok {
				t.Errorf("%s is required (%s) but has no default in options", name, typ)
			}
		}
		for i, v := range samples[name] {
			if err := checkOption(typ, v); err != nil {
				t.Errorf("sample %d of %s: %v", i, name, err)
			}
		}
	}
	// The duration pattern must turn away what the daemon cannot read.
	for _, bad := range []string{"2 days", "48", "1d", "h"} {
		if checkOption(schema["invite_validity"], bad) == nil {
			t.Errorf("invite_validity's schema %s accepts %q", schema["invite_validity"], bad)
		}
	}
	// off switches the clean-up off, not the e-mail: 0 there is the
	// window's start.
	for name, want := range map[string]map[string]bool{
		"keypad_email_before":  {"0": true, "720h": true, "1h30m": true, "off": false, "-1h": false, "1d": false},
		"keypad_cleanup_after": {"0": true, "off": true, "720h": true, "never": false, "-1h": false, "1d": false},
	} {
		for v, accepted := range want {
			if got := checkOption(schema[name], v) == nil; got != accepted {
				t.Errorf("%s's schema %s accepts %q: %v, want %v", name, schema[name], v, got, accepted)
			}
		}
	}
}

// TestConfigYAMLAgreesWithTheDaemonsLimits checks that the Supervisor's
// schema turns away what bridge/config rejects: the broker schemes and the
// range of auto_resend_max.
func TestConfigYAMLAgreesWithTheDaemonsLimits(t *testing.T) {
	_, schema := optionSchema(t)
	if got, want := schema["auto_resend_max"], fmt.Sprintf("int(0,%d)", config.MaxAutoResend); got != want {
		t.Errorf("auto_resend_max is %s in config.yaml, want %s as the daemon checks", got, want)
	}
	m := regexp.MustCompile(`^match\(\^\(([a-z|]+)\)://`).FindStringSubmatch(schema[optMQTTURL])
	if m == nil {
		t.Fatalf("mqtt_url's schema %s does not start with a list of schemes", schema[optMQTTURL])
	}
	if got, want := slices.Sorted(slices.Values(strings.Split(m[1], "|"))), slices.Sorted(slices.Values(config.MQTTSchemes())); !slices.Equal(got, want) {
		t.Errorf("mqtt_url's schema allows %v, the daemon %v", got, want)
	}
}

// environFor runs Environment on options and parses the result like the
// daemon does.
func environFor(t *testing.T, options map[string]any, o Options) (config.Config, error) {
	t.Helper()
	o.OptionsPath = writeOptions(t, options)
	o.ConfigDir = t.TempDir()
	o.Hostname = "test"
	env, err := Environment(t.Context(), o)
	if err != nil {
		return config.Config{}, fmt.Errorf("Environment: %w", err)
	}
	return config.Parse(env, true)
}

func TestDefaultOptionsStartTheDaemon(t *testing.T) {
	options, _ := optionSchema(t)
	options = maps.Clone(options)
	options[optToken] = "token-a"
	srv := httptest.NewServer(&supervisor{answers: []answer{{200, brokerNumberPort}}})
	defer srv.Close()
	cfg, err := environFor(t, options, Options{SupervisorURL: srv.URL, SupervisorToken: "sup-token"})
	if err != nil {
		t.Fatalf("the defaults of config.yaml do not parse: %v", err)
	}
	if cfg.MQTTURL != "tcp://core-mosquitto:1883" || cfg.DBPath != DBPath || cfg.HTTPTrustedProxy != IngressProxy || cfg.HTTPAddr != HTTPAddr {
		t.Errorf("parsed MQTT_URL %q DB_PATH %q HTTP_ADDR %q HTTP_TRUSTED_PROXY %q, want the broker and the add-on's fixed values",
			cfg.MQTTURL, cfg.DBPath, cfg.HTTPAddr, cfg.HTTPTrustedProxy)
	}
}

// fieldFor returns the name of config.Config's field read from variable env.
func fieldFor(t *testing.T, env string) string {
	t.Helper()
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		if tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ","); tag == env {
			return typ.Field(i).Name
		}
	}
	t.Fatalf("config.Config has no field for %s", env)
	return ""
}

func TestEveryOptionReachesTheDaemon(t *testing.T) {
	_, schema := optionSchema(t)
	base := make(map[string]any, len(schema))
	for name := range schema {
		s, ok := samples[name]
		if !ok {
			t.Fatalf("option %s has no sample values in this test", name)
		}
		base[name] = s[0]
	}
	before, err := environFor(t, base, Options{})
	if err != nil {
		t.Fatalf("the first samples do not parse: %v", err)
	}
	for _, o := range mapping {
		t.Run(o.name, func(t *testing.T) {
			options := maps.Clone(base)
			options[o.name] = samples[o.name][1]
			after, err := environFor(t, options, Options{})
			if err != nil {
				t.Fatalf("%s = %v does not parse: %v", o.name, samples[o.name][1], err)
			}
			field := fieldFor(t, o.env)
			a, b := reflect.ValueOf(before), reflect.ValueOf(after)
			for i := range a.NumField() {
				name := a.Type().Field(i).Name
				changed := !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface())
				if name == field && !changed {
					t.Errorf("%s = %v did not change Config.%s (%s)", o.name, samples[o.name][1], name, o.env)
				}
				if name != field && changed {
					t.Errorf("%s changed Config.%s, want only Config.%s", o.name, name, field)
				}
			}
		})
	}
}

func TestEveryOptionIsDocumented(t *testing.T) {
	_, schema := optionSchema(t)
	docs, err := os.ReadFile(filepath.Join(rootDir, "DOCS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "de"} {
		tr := readYAML(t, filepath.Join("translations", lang+".yaml"))
		conf, _ := tr["configuration"].(map[string]any)
		for name := range schema {
			entry, _ := conf[name].(map[string]any)
			for _, field := range []string{"name", "description"} {
				if s, _ := entry[field].(string); strings.TrimSpace(s) == "" {
					t.Errorf("translations/%s.yaml: configuration.%s.%s is missing", lang, name, field)
				}
			}
		}
		for name := range conf {
			if _, ok := schema[name]; !ok {
				t.Errorf("translations/%s.yaml translates %s, which config.yaml does not have", lang, name)
			}
		}
	}
	for name := range schema {
		if !bytes.Contains(docs, []byte("`"+name+"`")) {
			t.Errorf("DOCS.md does not describe `%s`", name)
		}
	}
}

func TestDockerfileAgreesWithConfigYAML(t *testing.T) {
	cfg := readYAML(t, "config.yaml")
	b, err := os.ReadFile(filepath.Join(rootDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(b)
	want := []string{
		"ARG BUILD_VERSION=" + cfg["version"].(string),
		`io.hass.version="${BUILD_VERSION}"`,
		`io.hass.type="app"`,
		`io.hass.arch="${BUILD_ARCH}"`,
		`HEALTHCHECK`,
		`ENTRYPOINT ["/nuki-invites"]`,
		`CMD ["addon"]`,
		".ci/build",
	}
	for _, w := range want {
		if !strings.Contains(dockerfile, w) {
			t.Errorf("Dockerfile lacks %s", w)
		}
	}
}

func TestAppArmorProfileIsNamedAfterTheSlug(t *testing.T) {
	cfg := readYAML(t, "config.yaml")
	b, err := os.ReadFile(filepath.Join(rootDir, "apparmor.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^profile (\S+) flags=`).FindSubmatch(b)
	if m == nil || string(m[1]) != cfg["slug"] {
		t.Errorf("apparmor.txt profile %q, want the slug %q (the Supervisor loads it under the add-on's name)", m, cfg["slug"])
	}
}

// supervisorOptionProblems applies the Supervisor's check of saved options
// before it starts an add-on (AddonOptions in its source): an option whose
// value is null is a missing required option, whatever its type; an option
// left out is missing unless its type ends in "?"; a value must fit its type.
func supervisorOptionProblems(schema map[string]string, options map[string]any) []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(options)) {
		typ, ok := schema[name]
		switch {
		case !ok:
			continue // the Supervisor drops unknown options with a warning
		case options[name] == nil:
			problems = append(problems, fmt.Sprintf("Missing required option '%s'", name))
		default:
			if err := checkOption(typ, options[name]); err != nil {
				problems = append(problems, fmt.Sprintf("option '%s': %v", name, err))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(schema)) {
		if _, ok := options[name]; !ok && !strings.HasSuffix(schema[name], "?") {
			problems = append(problems, fmt.Sprintf("Missing option '%s'", name))
		}
	}
	return problems
}

func TestConfigYAMLMakesTheSupervisorAskForTheToken(t *testing.T) {
	options, schema := optionSchema(t)
	if got, want := supervisorOptionProblems(schema, options), []string{"Missing required option 'nuki_api_token'"}; !slices.Equal(got, want) {
		t.Errorf("the Supervisor would find %q in the shipped options, want only %q: it must refuse to start the add-on until the token is entered", got, want)
	}
	if typ := schema[optToken]; typ != "password" {
		t.Errorf("nuki_api_token's schema is %q, want password: required, and hidden in the UI", typ)
	}

	entered := maps.Clone(options)
	entered[optToken] = "token-a"
	if got := supervisorOptionProblems(schema, entered); len(got) != 0 {
		t.Errorf("with the token entered the Supervisor would still find %q", got)
	}
	// An empty default, as before, passes the Supervisor and fails only
	// when the daemon starts: the rule above must tell the two apart.
	empty := maps.Clone(options)
	empty[optToken] = ""
	if got := supervisorOptionProblems(schema, empty); len(got) != 0 {
		t.Errorf("the emulated Supervisor rejects an empty token (%q), which the real one accepts", got)
	}
}

func TestShippedOptionsWithoutTheTokenSayItIsNotSet(t *testing.T) {
	options, _ := optionSchema(t)
	_, err := environFor(t, options, Options{SupervisorURL: "http://127.0.0.1:1", SupervisorToken: "sup-token"})
	if err == nil || !strings.Contains(err.Error(), "option nuki_api_token is not set") {
		t.Fatalf("config.yaml's options as saved (token null): %v, want the token named as not set", err)
	}
	if strings.Contains(err.Error(), "must be text") {
		t.Errorf("a null token is reported as a wrong type: %v", err)
	}
}

// pathMatches reports whether the Supervisor's backup filter (Python's
// PurePath.match with a relative pattern) excludes path: the pattern's
// parts must match the path's last parts, one by one, with fnmatch rules.
func pathMatches(path, pattern string) bool {
	p, q := strings.Split(strings.Trim(path, "/"), "/"), strings.Split(pattern, "/")
	if len(q) > len(p) {
		return false
	}
	p = p[len(p)-len(q):]
	for i := range q {
		if ok, err := filepath.Match(q[i], p[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func TestBackupExcludeLeavesOutTheLiveDatabaseAndKeepsItsSnapshot(t *testing.T) {
	cfg := readYAML(t, "config.yaml")
	raw, _ := cfg["backup_exclude"].([]any)
	var patterns []string
	for _, p := range raw {
		s, _ := p.(string)
		if strings.HasPrefix(s, "/") || s == "" {
			t.Fatalf("backup_exclude %q: the Supervisor matches relative patterns against the end of the path", p)
		}
		patterns = append(patterns, s)
	}
	excluded := func(name string) bool {
		// The Supervisor matches the full path as it sees the folder.
		full := "/mnt/data/supervisor/addons/data/local_nuki_invites/" + name
		return slices.ContainsFunc(patterns, func(p string) bool { return pathMatches(full, p) })
	}
	db, snapshot := filepath.Base(DBPath), filepath.Base(bolt.SnapshotPath(DBPath))
	for _, name := range []string{
		db,                           // the live file, torn when copied during a write
		"." + db + ".new-2831",       // a database being created
		"." + snapshot + ".tmp-1190", // a snapshot being written
		"." + db + ".restore-4417",   // a database being restored
	} {
		if !excluded(name) {
			t.Errorf("a backup would copy %s; backup_exclude %q should leave it out", name, patterns)
		}
	}
	for _, name := range []string{snapshot, "options.json"} {
		if excluded(name) {
			t.Errorf("a backup would leave out %s; backup_exclude %q is too wide", name, patterns)
		}
	}
	if pathMatches("/data/nuki-invites.db", "other.db") || !pathMatches("/a/b/x.db", "b/*.db") {
		t.Fatal("pathMatches does not follow PurePath.match")
	}
}

func TestAppArmorLetsTheDaemonKeepItsFilesInData(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(rootDir, "apparmor.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*/data/\*\* ([a-z]+),`).FindSubmatch(b)
	if m == nil {
		t.Fatal("apparmor.txt has no rule for /data/**")
	}
	// r and w for the database and its snapshot, k for bbolt's lock, l for
	// the hard link that puts a new or restored database file in place.
	for _, perm := range "rwkl" {
		if !strings.ContainsRune(string(m[1]), perm) {
			t.Errorf("apparmor.txt grants /data/** %q, which lacks %q", m[1], perm)
		}
	}
}
