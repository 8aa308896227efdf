package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/addon"
	"github.com/nuki-invites/nuki-invites/bridge/bridgetest"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/mqtttest"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
)

// TestAddonDevicesLinkToTheAddonPage runs the add-on's start as addonCommand
// does, against a fake Supervisor that names the installed slug: the
// devices Home Assistant discovers link to the add-on's ingress page.
func TestAddonDevicesLinkToTheAddonPage(t *testing.T) {
	const slug = "a0d7b954_nuki_invites"
	supervisor := http.NewServeMux()
	supervisor.HandleFunc("GET /addons/self/info", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sup-token" {
			http.Error(w, `{"result":"error","message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"result":"ok","data":{"name":"Nuki Invites","slug":%q,"ingress":true}}`, slug)
	})
	sup := httptest.NewServer(supervisor)
	t.Cleanup(sup.Close)
	sim := httptest.NewServer(nukisim.New(nukisim.Options{Token: "link-token"}))
	t.Cleanup(sim.Close)

	broker := mqtttest.Broker(t)
	base, prefix := mqtttest.Unique("addonlink"), mqtttest.Unique("addonlinkha")
	options, err := json.Marshal(map[string]any{"nuki_api_token": "link-token", "mqtt_url": broker,
		"mqtt_base_topic": base, "mqtt_discovery_prefix": prefix})
	if err != nil {
		t.Fatal(err)
	}
	optionsPath := filepath.Join(t.TempDir(), "options.json")
	if err := os.WriteFile(optionsPath, options, 0o600); err != nil {
		t.Fatal(err)
	}
	setup, err := addon.Prepare(t.Context(), addon.Options{OptionsPath: optionsPath, ConfigDir: t.TempDir(),
		SupervisorURL: sup.URL, SupervisorToken: "sup-token", Hostname: base})
	if err != nil {
		t.Fatal(err)
	}

	// The add-on's fixed paths and port are those of its container; here
	// they move to the test's folder and a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	setup.Env["HTTP_ADDR"] = ln.Addr().String()
	ln.Close()
	setup.Env["DB_PATH"] = filepath.Join(t.TempDir(), "nuki-invites.db")
	setup.Env["NUKI_API_URL"] = sim.URL
	cfg, err := config.Parse(setup.Env, true)
	if err != nil {
		t.Fatal(err)
	}

	watch := mqtttest.Connect(t, broker, prefix+"/#")
	logs := &bridgetest.Logs{}
	d, err := newDaemon(t.Context(), cfg, logs.Logger(), wiring{configurationURL: setup.ConfigurationURL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		retained := mqtttest.Retained(t, broker, base+"/#", prefix+"/#")
		for topic := range retained {
			watch.Publish(topic, nil, true)
		}
	})
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()

	want := "homeassistant://hassio/ingress/" + slug
	watch.WaitFor(30*time.Second, "a device linking to "+want, func(m mqtttest.Message) bool {
		var config struct {
			Dev struct {
				ConfigurationURL string `json:"cu"`
			} `json:"dev"`
		}
		return json.Unmarshal(m.Payload, &config) == nil && config.Dev.ConfigurationURL == want
	})
}
