package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// diagnosticsDatabase makes a database through the real core and the Nuki
// Web simulator and returns the stack, the database's path and the personal
// texts in it. It closes the store unless hold is true: then the store keeps
// the file locked, as a running daemon does.
func diagnosticsDatabase(t *testing.T, hold bool) (*stack, string, []string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "nuki-invites.db")
	st := newStack(t, db, bridge.Options{}, nukisim.New(nukisim.Options{Token: "test-token", Instant: true}))
	front := st.sim.AddLock(bridge.Lock{Name: "Front door", Type: 4})
	garage := st.sim.AddLock(bridge.Lock{Name: "Garage", Type: 4})
	ctx := context.Background()
	if err := st.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	guests := []bridge.CreateRequest{
		{Name: "Ana Ortega", Email: "ana.ortega@example.com", SmartlockIDs: []int64{front.ID, garage.ID}, Actor: "web:hostess"},
		{Name: "Bruno Keller", Email: "bruno.keller@example.org", SmartlockIDs: []int64{garage.ID}, Actor: "mqtt"},
	}
	personal := []string{"Front door", "Garage", "hostess"}
	for _, g := range guests {
		if _, err := st.svc.Create(ctx, g); err != nil {
			t.Fatal(err)
		}
		personal = append(personal, g.Name, g.Email)
		personal = append(personal, strings.Fields(g.Name)...)
	}
	if err := st.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ana := st.svc.Invitations(bridge.Filter{Text: "Ana"})[0]
	if _, err := st.sim.Use(ana.SmartlockID, ana.AccountUserID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	if err := st.svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, inv := range st.svc.Invitations(bridge.Filter{}) {
		if inv.AuthID == "" {
			t.Fatalf("invitation %s has no authorization after a sync", inv.ID)
		}
		personal = append(personal, string(inv.ID), inv.AuthID)
	}
	if !hold {
		if err := st.store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return st, db, personal
}

// checkBundle reads a bundle file and checks its mode, its shape and that
// it holds nothing personal.
func checkBundle(t *testing.T, path, source string, personal []string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("the bundle's mode is %v, want 0600", info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d bridge.Diagnostics
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the bundle is no JSON document: %v", err)
	}
	if d.Source != source || d.Version != version || d.Locks != 2 || len(d.Invitations) != 3 || d.Config["SYNC_INTERVAL"] == "" {
		t.Errorf("bundle: source %q, version %q, %d locks, %d timelines, config %v", d.Source, d.Version, d.Locks, len(d.Invitations), d.Config)
	}
	var events []string
	for _, tl := range d.Invitations {
		if len(tl.History) == 0 || tl.History[0].Event != bridge.EventCreated {
			t.Errorf("timeline %s: %+v", tl.Invite, tl.History)
		}
		for _, e := range tl.History {
			events = append(events, string(e.Event))
			if e.Event == bridge.EventEvidence && !strings.Contains(e.Detail, "lockCount") {
				t.Errorf("evidence without its fields: %q", e.Detail)
			}
		}
	}
	for _, want := range []bridge.EventType{bridge.EventSent, bridge.EventEvidence, bridge.EventUsed, bridge.EventAccepted} {
		if !slices.Contains(events, string(want)) {
			t.Errorf("no timeline has a %s entry: %v", want, events)
		}
	}
	lower := strings.ToLower(string(raw))
	for _, p := range personal {
		if p != "" && strings.Contains(lower, strings.ToLower(p)) {
			t.Errorf("the bundle holds %q", p)
		}
	}
	if t.Failed() {
		t.Logf("bundle:\n%s", raw)
	}
}

func TestDiagnosticsOfAStoppedDaemon(t *testing.T) {
	_, db, personal := diagnosticsDatabase(t, false)
	t.Setenv("DB_PATH", db)
	dest := filepath.Join(t.TempDir(), "diagnostics.json")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"diagnostics", dest}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "diagnostics written to "+dest) {
		t.Errorf("output %q", out.String())
	}
	checkBundle(t, dest, bridge.DiagnosticsFromDatabase, personal)

	before, _ := os.ReadFile(dest)
	err := run(context.Background(), []string{"diagnostics", dest}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second bundle to the same file: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(dest); !bytes.Equal(before, after) {
		t.Errorf("the refused command changed the file")
	}
}

func TestDiagnosticsCommandHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"diagnostics", "--help"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(errOut.String(), "Usage: nuki-invites diagnostics FILE") {
		t.Errorf("diagnostics --help: %v, %q", err, errOut.String())
	}
	if !strings.Contains(usage, "nuki-invites diagnostics FILE") {
		t.Errorf("the usage does not list the diagnostics command")
	}
	if err := run(context.Background(), []string{"diagnostics"}, &out, &errOut); err == nil {
		t.Errorf("diagnostics without a file succeeded")
	}
}

func TestDiagnosticsOfARunningDaemon(t *testing.T) {
	st, db, personal := diagnosticsDatabase(t, true) // the store keeps the file locked, as the daemon does
	const token = "diagnostics-api-token"
	cfg, err := config.Parse(map[string]string{"API_TOKEN": token}, false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Options{Service: st.svc, APIToken: cfg.APIToken, Diagnostics: diagnosticsWriter(st.svc, cfg)})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv.Handler())
	defer api.Close()

	t.Setenv("DB_PATH", db)
	t.Setenv("HTTP_ADDR", strings.TrimPrefix(api.URL, "http://"))
	t.Setenv("API_TOKEN", token)
	dest := filepath.Join(t.TempDir(), "diagnostics.json")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"diagnostics", dest}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	checkBundle(t, dest, bridge.DiagnosticsFromDaemon, personal)

	t.Setenv("API_TOKEN", "wrong-token")
	other := filepath.Join(t.TempDir(), "refused.json")
	if err := run(context.Background(), []string{"diagnostics", other}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("with a wrong API token: %v, want the daemon's refusal", err)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("a refused bundle left a file behind")
	}
}

func TestDiagnosticsConfigHoldsNoSecret(t *testing.T) {
	secrets := map[string]string{
		"NUKI_API_TOKEN": "nuki-token-1f2e", "NUKI_WEBHOOK_SECRET": "webhook-secret-3d4c",
		"SMTP_URL": "smtp://mailer:smtp-pass-5b6a@mail.example.com:587", "MQTT_PASSWORD": "mqtt-pass-7988",
		"API_TOKEN": "api-token-9a0b",
	}
	personal := map[string]string{
		"SMTP_FROM": "flat@example.com", "ADMIN_EMAIL": "owner@example.com",
		"MQTT_URL": "tcp://broker-user:broker-pass@broker.lan:1883", "MQTT_USERNAME": "owner-mqtt",
		"MQTT_CLIENT_ID": "owner-laptop", "DB_PATH": "/home/owner/nuki.db",
		"NUKI_API_URL": "https://user:pw@api.nuki.io/v1?x=1",
	}
	environ := map[string]string{}
	for k, v := range secrets {
		environ[k] = v
	}
	for k, v := range personal {
		environ[k] = v
	}
	cfg, err := config.Parse(environ, true)
	if err != nil {
		t.Fatal(err)
	}
	// Paths the configuration checks exist; only their being set is shown.
	cfg.TemplateDir, cfg.MQTTCAFile = "/home/owner/templates", "/home/owner/ca.pem"
	personal["TEMPLATE_DIR"], personal["MQTT_CA_FILE"] = cfg.TemplateDir, cfg.MQTTCAFile
	got := diagnosticsConfig(cfg)
	for name := range secrets {
		if _, ok := got[name]; ok {
			t.Errorf("the bundle names the secret %s", name)
		}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(got); err != nil {
		t.Fatal(err)
	}
	for _, v := range append(slices.Collect(maps.Values(secrets)), "owner", "broker-user", "broker-pass", "pw@", "/v1", "flat@") {
		if strings.Contains(buf.String(), v) {
			t.Errorf("the settings hold %q: %s", v, buf.String())
		}
	}
	if got["NUKI_API_URL"] != "https://api.nuki.io" || got["MQTT_URL"] != "tcp://broker.lan:1883" || got["ADMIN_EMAIL"] != "set" ||
		got["SMTP_FROM"] != "set" || got["TEMPLATE_DIR"] != "set" {
		t.Errorf("settings %v", got)
	}

	// Every variable is shown or left out on purpose, so a new one is
	// not forgotten.
	leftOut := []string{"DB_PATH", "NUKI_API_TOKEN", "NUKI_WEBHOOK_SECRET", "SMTP_URL", "MQTT_PASSWORD", "API_TOKEN"}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		if _, shown := got[name]; name != "" && !shown && !slices.Contains(leftOut, name) {
			t.Errorf("%s is neither shown in the bundle nor left out on purpose", name)
		}
	}
}
