package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// TestOpenAPIMatchesRoutes holds the document and the route table together:
// every route is documented with its method, every documented operation is
// served, and every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	g := seedGuests(rb)
	rec := do(t, s.Handler(), "GET", "/api/v1/openapi.json", "")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}

	documented := map[[2]string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[[2]string{strings.ToUpper(method), path}] = true
		}
	}
	served := map[[2]string]bool{}
	for _, r := range web.RouteList(s) {
		path := strings.TrimSuffix(r[1], "{$}")
		if path == "" {
			path = "/"
		}
		served[[2]string{r[0], path}] = true
		if !documented[[2]string{r[0], path}] {
			t.Errorf("route %s %s is not in openapi.json", r[0], path)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("openapi.json documents %s %s, which is not served", op[0], op[1])
		}
		// Call it with example ids; anything but 404/405 from the mux shows
		// the path is routed.
		target := strings.NewReplacer("{id}", string(g.alice), "{file}", "app.js").Replace(op[1])
		req := httptest.NewRequest(op[0], target, nil)
		ctx, cancel := context.WithCancel(req.Context())
		cancel() // the event stream ends at once
		got := httptest.NewRecorder()
		s.Handler().ServeHTTP(got, req.WithContext(ctx))
		if got.Code == http.StatusMethodNotAllowed || (got.Code == http.StatusNotFound && strings.Contains(got.Body.String(), "nothing is served")) {
			t.Errorf("%s %s answers %d", op[0], target, got.Code)
		}
	}

	raw := rec.Body.String()
	for _, part := range strings.Split(raw, `"$ref": "#/components/`)[1:] {
		ref := part[:strings.IndexByte(part, '"')]
		kind, name, _ := strings.Cut(ref, "/")
		if _, ok := doc.Components[kind][name]; !ok {
			t.Errorf("$ref #/components/%s does not resolve", ref)
		}
	}
	var statuses []string
	if err := json.Unmarshal(doc.Components["schemas"]["Status"], &struct {
		Enum *[]string `json:"enum"`
	}{&statuses}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, st := range append(slices.Clone(bridge.Statuses), bridge.KeypadStatuses...) {
		if !slices.Contains(want, string(st)) {
			want = append(want, string(st))
		}
	}
	if !slices.Equal(statuses, want) {
		t.Errorf("Status enum %v, want the statuses of invitations and keypad codes %v", statuses, want)
	}
	var syncState struct {
		Properties struct {
			SyncStatus struct {
				Enum []string `json:"enum"`
			} `json:"sync_status"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components["schemas"]["SyncState"], &syncState); err != nil {
		t.Fatal(err)
	}
	want = want[:0]
	for _, st := range bridge.SyncStatuses {
		want = append(want, string(st))
	}
	if got := syncState.Properties.SyncStatus.Enum; !slices.Equal(got, want) {
		t.Errorf("SyncState.sync_status enum %v, want %v", got, want)
	}
}

// TestOpenAPIDescribesWhatIsServed holds the schemas and the answers
// together: an invitation with every field set serves exactly the
// properties Invitation documents, the history's events are documented and
// the signals are the core's. A revoked invitation shows no expiry, so it
// takes two: one with every field set, and a failed one.
func TestOpenAPIDescribesWhatIsServed(t *testing.T) {
	rb := newRealBridge(t, bridge.Options{})
	at := fakeNow.Add(-time.Hour)
	// Stored as a restored backup would hold them: every field set, the
	// core's bookkeeping too.
	failed := bridge.Invitation{SmartlockID: 11, AccountUserID: 5, Name: "Failed", Email: "failed@example.com",
		LockName: "Front door", Delivery: bridge.DeliveryNuki, Send: 1, SentAt: at, ConfirmedAt: at,
		ExpiresAt: fakeNow.Add(time.Hour), FailedAt: at, LastError: "the lock is offline"}
	full := bridge.Invitation{SmartlockID: 11, AccountUserID: 4, Name: "Full", Email: "full@example.com", Language: "de",
		LockName: "Front door", AuthID: "a1", Delivery: bridge.DeliveryCustom, Adopted: true, RemoteAllowed: true,
		Access: bridge.Access{WeekDays: 64}, Send: 2, SentAt: at, ConfirmedAt: at, ExpiresAt: fakeNow.Add(time.Hour),
		LastUsedAt: at, AcceptedAt: at, AcceptedSignal: bridge.SignalActivityLog, RevokedAt: at, FailedAt: at,
		LastError: "x", ResendCount: 1, LastResendAt: at, AutoResends: 1, HasCode: true,
		History: []bridge.HistoryEntry{{At: at, Event: bridge.EventUsed}},
		// Bookkeeping of the core, never served:
		ResendUnconfirmed: true, BaseAppID: 7, RequestID: "req", Replacing: true, Attempts: 2, PrevAuthID: "a0",
		DeleteRequestedAt: at, Deleting: []string{"a0"}, CheckRequestedAt: at, Reminded: 1, Mailed: 1, AutoResentSend: 1}
	// A keypad code with every field of its own.
	keypad := bridge.Invitation{ID: bridge.MakeKeypadID(11, 1), Kind: bridge.KindKeypad, SmartlockID: 11, Name: "Keypad",
		Email: "keypad@example.com", Language: "de", TimeZone: "Europe/Berlin", LockName: "Front door", AuthID: "k1",
		Delivery: bridge.DeliveryCustom, Access: bridge.Access{From: at, Until: fakeNow.Add(time.Hour), FromTime: 8 * 60, UntilTime: 20 * 60},
		Send: 1, SentAt: at, ConfirmedAt: at, ExpiresAt: fakeNow.Add(time.Hour), LastUsedAt: at, HasCode: true,
		History: []bridge.HistoryEntry{{At: at, Event: bridge.EventCodeUsed, Actor: "sync", Detail: "unlock by keypad"}}}
	rb.store(failed, full, keypad)
	s := rb.server(nil)
	rec := do(t, s.Handler(), "GET", "/api/v1/openapi.json", "")
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas

	served := decode[map[string]any](t, do(t, s.Handler(), "GET", "/api/v1/invitations/11-4", ""))
	if served["status"] != "revoked" {
		t.Fatalf("the invitation with every field is %v, want revoked", served["status"])
	}
	other := decode[map[string]any](t, do(t, s.Handler(), "GET", "/api/v1/invitations/11-5", ""))
	if other["status"] != "failed" {
		t.Fatalf("the failed invitation is %v", other["status"])
	}
	code := decode[map[string]any](t, do(t, s.Handler(), "GET", "/api/v1/invitations/11-k1", ""))
	if code["status"] != "used" || code["kind"] != "keypad" || code["time_zone"] != "Europe/Berlin" {
		t.Fatalf("the keypad code is %v", code)
	}
	// The list with the keypad code in it, and filtered by a keypad
	// code's status, is what openapi.json describes (checkAnswers).
	for _, query := range []string{"", "?status=used"} {
		list := decode[web.InvitationList](t, do(t, s.Handler(), "GET", "/api/v1/invitations"+query, ""))
		if !slices.ContainsFunc(list.Invitations, func(inv web.Invitation) bool { return inv.ID == "11-k1" }) {
			t.Errorf("GET /api/v1/invitations%s does not list the keypad code: %v", query, ids(list.Invitations))
		}
	}
	for _, more := range []map[string]any{other, code} {
		for k, v := range more {
			if _, ok := served[k]; !ok {
				served[k] = v
			}
		}
	}
	documented := schemas["Invitation"].Properties
	for k := range served {
		if _, ok := documented[k]; !ok {
			t.Errorf("an invitation serves %q, which Invitation does not document", k)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			t.Errorf("Invitation documents %q, which invitations with every field set do not serve", k)
		}
	}

	var signals []string
	for _, sig := range []bridge.Signal{bridge.SignalActivityLog, bridge.SignalLockCount, bridge.SignalLastActive, bridge.SignalAppID} {
		signals = append(signals, string(sig))
	}
	if got := documented["accepted_signal"].Enum; !slices.Equal(got, signals) {
		t.Errorf("accepted_signal enum %v, want %v", got, signals)
	}
	if got := documented["kind"].Enum; !slices.Equal(got, []string{string(bridge.KindApp), string(bridge.KindKeypad)}) {
		t.Errorf("kind enum %v, want app and keypad", got)
	}
	events := schemas["HistoryEntry"].Properties["event"].Enum
	for _, ev := range append(slices.Concat(bridge.PublicEventTypes, bridge.KeypadEventTypes), bridge.EventChanged, bridge.EventAdopted,
		bridge.EventCodeRevealed, bridge.EventEmailed, bridge.EventEvidence, bridge.EventSkipped) {
		if !slices.Contains(events, string(ev)) {
			t.Errorf("HistoryEntry.event does not list %q", ev)
		}
	}
}

// snakeCase is how every member of the JSON the API reads and writes is
// named.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// memberNames walks a JSON document (openapi.json, or a part of it) and
// calls f with every name a schema gives a member, under "properties" or
// "required", and where it is.
func memberNames(v any, at string, f func(name, at string)) {
	switch v := v.(type) {
	case map[string]any:
		if props, ok := v["properties"].(map[string]any); ok {
			for name := range props {
				f(name, at+"/properties")
			}
		}
		if required, ok := v["required"].([]any); ok {
			for _, name := range required {
				if s, ok := name.(string); ok {
					f(s, at+"/required")
				}
			}
		}
		for k, child := range v {
			memberNames(child, at+"/"+pointerPart(k), f)
		}
	case []any:
		for i, child := range v {
			memberNames(child, fmt.Sprintf("%s/%d", at, i), f)
		}
	}
}

// TestOpenAPINamesAreSnakeCase keeps the API in one casing: every member
// openapi.json documents, in answers and in requests, is snake_case. With
// the contract every answer is checked against, no member in another
// casing can be served.
func TestOpenAPINamesAreSnakeCase(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	names := 0
	memberNames(doc, "#", func(name, at string) {
		names++
		if !snakeCase.MatchString(name) {
			t.Errorf("openapi.json names the member %q at %s; members are snake_case", name, at)
		}
	})
	// Invitation alone documents more than 25 members: a walk that finds
	// fewer has missed the schemas.
	if names < 100 {
		t.Errorf("the walk found %d member names in openapi.json, too few to have read it all", names)
	}

	t.Run("the walk finds members in every casing and place", func(t *testing.T) {
		var sample any
		if err := json.Unmarshal([]byte(`{"paths":{"/x":{"get":{"responses":{"200":{"content":{"application/json":{"schema":
			{"type":"array","items":{"type":"object","required":["lockName"],"properties":{"ok_name":{},"nested":{"properties":{"expiresAt":{}}}}}}}}}}}}},
			"components":{"schemas":{"A":{"oneOf":[{"properties":{"Smartlock_ID":{}}}]}}}}`), &sample); err != nil {
			t.Fatal(err)
		}
		var bad []string
		memberNames(sample, "#", func(name, at string) {
			if !snakeCase.MatchString(name) {
				bad = append(bad, name)
			}
		})
		slices.Sort(bad)
		if want := []string{"Smartlock_ID", "expiresAt", "lockName"}; !slices.Equal(bad, want) {
			t.Errorf("the walk flags %v, want %v", bad, want)
		}
	})
}
