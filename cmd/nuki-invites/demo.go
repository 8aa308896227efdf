//go:build !nodemo

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/bolt"
	"github.com/nuki-invites/nuki-invites/bridge/config"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt"
	"github.com/nuki-invites/nuki-invites/bridge/mqtt/embedded"
	"github.com/nuki-invites/nuki-invites/bridge/nukisim"
)

// demoCommand runs the daemon against a simulated Nuki Web, with a database
// in a temporary folder and the local Mosquitto (or an embedded broker), and
// lets invitations get accepted and expire while it runs.
func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "demo [flags]\n\nRuns nuki-invites against a simulated Nuki Web on embedded defaults.", stderr)
	httpAddr := fs.String("http", "127.0.0.1:8099", "address of the web page and API (a free port if taken)")
	broker := fs.String("mqtt", "tcp://127.0.0.1:1883", "MQTT broker; an embedded one is started when it does not answer")
	duration := fs.Duration("for", 0, "stop after this long (0: until interrupted)")
	validity := fs.Duration("validity", 10*time.Minute, "invitation validity, short so that things happen")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	logger := newLogger(stderr, envOr("LOG_LEVEL", "info"), "text")

	dir, err := os.MkdirTemp("", "nuki-invites-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	mqttURL, stopBroker, err := demoBroker(*broker, logger)
	if err != nil {
		return err
	}
	defer stopBroker()

	listener, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		listener, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
	}
	addr := listener.Addr().String()
	listener.Close() // the web server listens on it again, right away

	secret := randomHex(16)
	// The simulated locks take 20 s to carry out a change, so that sending
	// shows; the cellar's lock is offline.
	sim := nukisim.New(nukisim.Options{Logger: logger, LockDelay: 20 * time.Second,
		WebhookURL: "http://" + addr + "/webhook/nuki", WebhookSecret: bridge.Secret(secret), WebhookDelay: 2 * time.Second})
	simAddr, err := sim.ListenAndServe(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	if err := seedDemo(sim, *validity); err != nil {
		return err
	}

	cfg, err := config.Parse(map[string]string{
		"NUKI_API_URL": "http://" + simAddr, "NUKI_API_TOKEN": "demo-token", "NUKI_ADVANCED_API": "true",
		"NUKI_WEBHOOK_SECRET": secret, "DB_PATH": dir + "/nuki-invites.db", "SYNC_INTERVAL": "10s",
		"INVITE_VALIDITY": validity.String(), "REMINDER_BEFORE": (*validity * 3 / 10).String(),
		"RESEND_COOLDOWN": "30s", "EXPOSE_CODES": "true", "CONFIRM_TIMEOUT": "2m",
		"MQTT_URL": mqttURL, "MQTT_CLIENT_ID": "nuki-invites-demo-" + randomHex(3), "HTTP_ADDR": addr,
		// Topics of its own, so that the demo never touches a real installation's
		// entities on a shared broker.
		"MQTT_BASE_TOPIC": demoBaseTopic,
		"LOG_LEVEL":       envOr("LOG_LEVEL", "info"),
	}, false)
	if err != nil {
		return fmt.Errorf("demo configuration:\n%w", err)
	}
	// Invitations live for minutes here: reminders are looked for more
	// often than a real installation may ask for.
	cfg.ReminderSchedule = "@every 10s"
	mqtt.RoutePahoLogs(logger)
	d, err := newDaemon(ctx, cfg, logger, wiring{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `
nuki-invites demo
  web page:      http://%s/
  Nuki Web:      http://%s (simulated; control API under /_sim/)
  MQTT broker:   %s
  watch it:      mosquitto_sub -h %s -p %s -v -t '%s/#' -t 'homeassistant/device/+/config'
  database:      %s (removed on exit)
Invitations are valid for %s here; locks take 20 s to carry out a change (the cellar's is
offline); guests open their doors now and then. Ctrl-C stops.

`, addr, simAddr, mqttURL, hostOf(mqttURL), portOf(mqttURL), demoBaseTopic, cfg.DBPath, *validity)

	err = alongside(ctx, d.Run, func(ctx context.Context) { life(ctx, d.svc, sim, stdout, logger) })
	return errors.Join(err, clearDemoTopics(mqttURL, cfg.DBPath, logger))
}

// clearDemoTopics removes the demo's retained messages (discovery, states,
// availability) from the broker, so no ghost devices stay behind.
func clearDemoTopics(url, dbPath string, logger *slog.Logger) error {
	store, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	topics, err := store.PublishedDiscovery(ctx)
	st, lerr := store.Load(ctx)
	store.Close()
	if err = errors.Join(err, lerr); err != nil {
		return err
	}
	clear := []string{demoBaseTopic + "/availability", demoBaseTopic + "/bridge/state"}
	for topic := range topics {
		clear = append(clear, topic)
	}
	for id := range st.Invitations {
		clear = append(clear, demoBaseTopic+"/invite/"+string(id)+"/state")
	}
	client := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("nuki-invites-demo-cleanup-" + randomHex(3)))
	if t := client.Connect(); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
		return fmt.Errorf("clearing the demo's retained topics: cannot connect to %s: %v", url, t.Error())
	}
	defer client.Disconnect(250)
	for _, topic := range clear {
		if t := client.Publish(topic, 1, true, []byte{}); !t.WaitTimeout(5*time.Second) || t.Error() != nil {
			return fmt.Errorf("clearing %s: %v", topic, t.Error())
		}
	}
	logger.Info("demo topics cleared from the broker", "topics", len(clear))
	return nil
}

// demoBaseTopic is the demo's MQTT base topic; its devices' ids derive from it.
const demoBaseTopic = "nuki_invites_demo"

// demoBroker returns the broker to use: url when something answers there,
// else an embedded broker on a free port.
func demoBroker(url string, logger *slog.Logger) (string, func(), error) {
	conn, err := net.DialTimeout("tcp", hostOf(url)+":"+portOf(url), time.Second)
	if err == nil {
		conn.Close()
		return url, func() {}, nil
	}
	b, err := embedded.Start("127.0.0.1:0", logger)
	if err != nil {
		return "", nil, fmt.Errorf("no broker at %s and the embedded one did not start: %w", url, err)
	}
	logger.Info("no MQTT broker answered; using an embedded one", "tried", url, "url", b.URL())
	return b.URL(), func() { b.Close() }, nil
}

func hostOf(url string) string {
	rest := url[strings.Index(url, "://")+3:]
	if h, _, err := net.SplitHostPort(rest); err == nil {
		return h
	}
	return rest
}

func portOf(url string) string {
	rest := url[strings.Index(url, "://")+3:]
	if _, p, err := net.SplitHostPort(rest); err == nil {
		return p
	}
	return "1883"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// seedDemo gives the simulated account four locks (the cellar's offline) and
// invitations in every state: fresh, about to expire, expired, accepted and
// failed.
func seedDemo(sim *nukisim.Sim, validity time.Duration) error {
	front := sim.AddLock(bridge.Lock{Name: "Front door", Type: 4})
	garage := sim.AddLock(bridge.Lock{Name: "Garage", Type: 4})
	office := sim.AddLock(bridge.Lock{Name: "Office", Type: 2})
	cellar := sim.AddLock(bridge.Lock{Name: "Cellar", Type: 4})
	if err := sim.SetOffline(cellar.ID, true); err != nil {
		return err
	}
	now := time.Now().UTC()
	guests := []struct {
		name, email string
		lock        bridge.Lock
		age         time.Duration
		accepted    bool
		error       string
	}{
		{"Alice Martin", "alice@example.com", front, time.Minute, false, ""},
		{"Bob Keller", "bob@example.com", garage, validity - validity/5, false, ""},
		{"Chloé Dubois", "chloe@example.com", front, validity + time.Hour, false, ""},
		{"David Novak", "david@example.com", office, validity / 2, true, ""},
		{"Eva Schmidt", "eva@example.com", office, 2 * time.Minute, false, "lock offline"},
		{"Farid Haddad", "farid@example.com", garage, validity / 3, false, ""},
	}
	for _, g := range guests {
		u, err := sim.AddUser(bridge.User{Email: g.email, Name: g.name, Language: "en"})
		if err != nil {
			return err
		}
		created := now.Add(-g.age)
		if _, err := sim.AddAuth(bridge.Auth{SmartlockID: g.lock.ID, AccountUserID: u.ID, Type: bridge.AuthTypeApp,
			Name: g.name, Enabled: true, RemoteAllowed: true, CreationDate: created, UpdateDate: created, Error: g.error}); err != nil {
			return err
		}
		if g.accepted {
			if _, err := sim.Use(g.lock.ID, u.ID, bridge.ActionUnlock); err != nil {
				return err
			}
		}
	}
	return nil
}

// life plays the guests and the admin while the demo runs: now and then a
// new guest is invited (without Nuki's email, or to the offline cellar), a
// guest opens their door, and the table of invitations is printed.
func life(ctx context.Context, svc *bridge.Service, sim *nukisim.Sim, out io.Writer, logger *slog.Logger) {
	ticker := time.NewTicker(15 * time.Second)
	defer ticker.Stop()
	step := 0
	newGuests := []struct{ name, email string }{
		{"Greta Olsen", "greta@example.com"}, {"Hugo Rossi", "hugo@example.com"}, {"Ines García", "ines@example.com"},
	}
	invite := func(name, email string, lock int64, d bridge.Delivery) {
		_, err := svc.Create(ctx, bridge.CreateRequest{Email: email, Name: name, Language: "en",
			SmartlockIDs: []int64{lock}, Delivery: d, Actor: "demo"})
		if err != nil && ctx.Err() == nil {
			logger.Warn("demo: invitation not created", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		step++
		locks := svc.Locks()
		switch {
		case step == 2:
			for _, l := range locks {
				if l.Name == "Cellar" {
					invite("Jonas Weber", "jonas@example.com", l.ID, bridge.DeliveryNuki)
				}
			}
		case step%4 == 1 && step/4 < len(newGuests) && len(locks) > 0:
			g := newGuests[step/4]
			invite(g.name, g.email, locks[step%len(locks)].ID, bridge.DeliveryCustom)
		case step%4 == 3:
			open := svc.Invitations(bridge.Filter{Statuses: []bridge.Status{bridge.StatusPending, bridge.StatusExpiringSoon, bridge.StatusAccepted}})
			for _, inv := range open {
				if _, err := sim.Use(inv.SmartlockID, inv.AccountUserID, bridge.ActionUnlock); err == nil {
					logger.Info("demo: a guest opened the door with the Nuki app", "invite", inv.ID, "name", inv.Name)
					svc.RequestSync()
					break
				}
			}
		}
		printTable(out, svc.Invitations(bridge.Filter{}), time.Now())
	}
}

// printTable writes the invitations as a table.
func printTable(w io.Writer, invs []bridge.Invitation, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INVITATION\tGUEST\tLOCK\tSTATUS\tEXPIRES\tLAST USED\tRE-SENDS")
	for _, inv := range invs {
		_, expires := inv.Validity() // none while sending, nor once accepted or revoked
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", inv.ID, inv.Name, inv.LockName, inv.Status,
			relative(expires, now), relative(inv.LastUsedAt, now), inv.ResendCount)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// relative says when t is from now: "in 5m", "3m ago".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	if d >= 0 {
		return "in " + d.String()
	}
	return (-d).String() + " ago"
}
