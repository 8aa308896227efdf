package nukisim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// specPath is Nuki's published spec, read from the shared reference data.
var specPath = filepath.Join("..", "..", "..", "shared", "reference", "nuki", "nuki-web-api-swagger-3.9.0.json")

type spec struct {
	Paths       map[string]map[string]json.RawMessage `json:"paths"`
	Definitions map[string]any                        `json:"definitions"`
}

type specOperation struct {
	Responses map[string]struct {
		Schema map[string]any `json:"schema"`
	} `json:"responses"`
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	raw, err := os.ReadFile(specPath)
	if os.IsNotExist(err) {
		t.Skipf("Nuki's spec is not at %s (the shared reference data is absent); conformance not checked", specPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("spec: %v", err)
	}
	return &s
}

func (s *spec) operation(t *testing.T, method, pattern string) specOperation {
	t.Helper()
	raw, ok := s.Paths[pattern][strings.ToLower(method)]
	if !ok {
		t.Fatalf("%s %s is not in the spec", method, pattern)
	}
	var op specOperation
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatalf("%s %s: %v", method, pattern, err)
	}
	return op
}

// errorSchema is Nuki's error body, which the spec does not define.
var errorSchema = map[string]any{
	"type":     "object",
	"required": []any{"code", "description", "homeRef", "reasonPhrase", "uri"},
	"properties": map[string]any{
		"code": map[string]any{"type": "integer", "format": "int32"}, "description": map[string]any{"type": "string"},
		"homeRef": map[string]any{"type": "string"}, "reasonPhrase": map[string]any{"type": "string"},
		"uri": map[string]any{"type": "string"},
	},
}

var objectIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// check validates v (decoded with UseNumber) against a Swagger 2.0 schema and
// returns every violation: undeclared properties, missing required ones,
// wrong JSON types, integers out of their format's range, bad date-times.
func (s *spec) check(schema map[string]any, v any, at string) []string {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		if str, ok := v.(string); ok && name == "ObjectId" {
			// The spec describes the server's ObjectId type; on the wire it
			// is its 24 hex digits, like every id of an authorization.
			if !objectIDPattern.MatchString(str) {
				return []string{at + ": " + strconv.Quote(str) + " is not an ObjectId"}
			}
			return nil
		}
		def, ok := s.Definitions[name].(map[string]any)
		if !ok {
			return []string{at + ": unknown definition " + ref}
		}
		return s.check(def, v, at)
	}
	typ, _ := schema["type"].(string)
	if typ == "" && schema["properties"] != nil {
		typ = "object"
	}
	bad := func(format string, args ...any) []string { return []string{at + ": " + fmt.Sprintf(format, args...)} }
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("want an object, got %T", v)
		}
		props, _ := schema["properties"].(map[string]any)
		var out []string
		for _, r := range asSlice(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				out = append(out, at+": required property "+r.(string)+" missing")
			}
		}
		for k, val := range obj {
			p, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == nil {
					out = append(out, at+": property "+k+" is not in the spec")
				}
				continue
			}
			out = append(out, s.check(p, val, at+"."+k)...)
		}
		return out
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return bad("want an array, got %T", v)
		}
		items, _ := schema["items"].(map[string]any)
		var out []string
		for i, e := range arr {
			out = append(out, s.check(items, e, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return bad("want an integer, got %T", v)
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return bad("want an integer, got %s", n)
		}
		if schema["format"] == "int32" && (i < math.MinInt32 || i > math.MaxInt32) {
			return bad("%d is out of int32 range", i)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			return bad("want a number, got %T", v)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return bad("want a string, got %T", v)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return bad("%q is not a date-time", str)
			}
		}
		if enum := asSlice(schema["enum"]); enum != nil && !slices.Contains(enum, any(str)) {
			return bad("%q is not one of %v", str, enum)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("want a boolean, got %T", v)
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestSchemaCheckerFindsViolations(t *testing.T) {
	sp := loadSpec(t)
	ref := map[string]any{"$ref": "#/definitions/AccountUser"}
	good := `{"accountUserId":1,"accountId":2,"email":"a@b.c","name":"A","creationDate":"2026-11-26T10:00:00.000Z","updateDate":"2026-11-26T10:00:00.000Z"}`
	tests := []struct {
		name, body string
		want       string
	}{
		{"valid", good, ""},
		{"undeclared property", strings.Replace(good, `"name"`, `"nickname":"x","name"`, 1), "nickname is not in the spec"},
		{"missing required", strings.Replace(good, `"email":"a@b.c",`, "", 1), "required property email missing"},
		{"wrong type", strings.Replace(good, `"accountId":2`, `"accountId":"2"`, 1), "want an integer"},
		{"bad date", strings.Replace(good, `"creationDate":"2026-11-26T10:00:00.000Z"`, `"creationDate":"yesterday"`, 1), "not a date-time"},
		{"int32 overflow", strings.Replace(good, `"accountId":2`, `"accountId":4294967296`, 1), "int32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(sp.check(ref, decode(t, []byte(tt.body)), "$"), "; ")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Fatalf("violations %q, want %q", got, tt.want)
			}
		})
	}
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return v
}

func TestRoutesExistInSpec(t *testing.T) {
	sp := loadSpec(t)
	for _, rt := range New(Options{}).routes() {
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			sp.operation(t, rt.Method, rt.Pattern)
		})
	}
}

// extraStatus lists answers the simulator gives beyond the spec's list for
// an operation, and why.
func extraStatus(method, pattern string, status int) bool {
	switch {
	case status == http.StatusUnauthorized: // the oauth security applies to every operation
		return true
	case status == http.StatusNotFound && strings.Contains(pattern, "{"): // an unknown id in the path
		return true
	case status == http.StatusForbidden && strings.HasPrefix(pattern, "/smartlock/{smartlockId}"): // not the account's lock [FACTS]
		return true
	}
	return false
}

func TestResponsesConformToSpec(t *testing.T) {
	sp := loadSpec(t)
	c := newClock()
	sim := New(Options{Token: "t0ken", Now: c.Now})
	defer sim.Close()
	seeded, err := sim.Seed(SeedOptions{Locks: 3, Users: 4, Auths: 6, Accepted: 2})
	if err != nil {
		t.Fatal(err)
	}
	lock, lock2, user := seeded.Locks[0], seeded.Locks[1], seeded.Users[0]
	for _, l := range []int64{lock, lock2} {
		if err := sim.SetKeypad(l, Keypad2); err != nil {
			t.Fatal(err)
		}
	}
	keypad, err := sim.AddAuth(bridge.Auth{SmartlockID: lock, Type: 13, Name: "Keypad", Enabled: true, Code: "234567"})
	if err != nil {
		t.Fatal(err)
	}
	typed, err := sim.EnterCode(lock, "234567")
	if err != nil || typed.State != 0 {
		t.Fatalf("keypad entry %+v, %v", typed, err)
	}
	if _, err := sim.EnterCode(lock, "999999"); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddUser(bridge.User{Email: "free@example.com", Name: "Free"}); err != nil {
		t.Fatal(err)
	}
	free := sim.Users()[len(sim.Users())-1].ID
	offline := sim.AddLock(bridge.Lock{Name: "Cellar", Type: 4}).ID
	if err := sim.SetOffline(offline, true); err != nil {
		t.Fatal(err)
	}
	firstAuth := sim.AuthsFor(user)[0]
	used, err := sim.Use(lock, user, bridge.ActionUnlatch)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()

	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	keypadPath := "/smartlock/" + id(lock) + "/auth/" + keypad.ID
	tests := []struct {
		method, pattern, path, body string
		token                       string
		settle                      bool // let the locks carry out what waits before the request
		want                        int
	}{
		{"GET", "/smartlock", "/smartlock", "", "", false, 200},
		{"GET", "/smartlock", "/smartlock", "", "wrong", false, 401},
		{"GET", "/smartlock/auth", "/smartlock/auth", "", "", false, 200},
		{"GET", "/smartlock/auth", "/smartlock/auth?types=0&accountUserId=" + id(user), "", "", false, 200},
		{"GET", "/smartlock/auth", "/smartlock/auth?accountUserId=-1", "", "", false, 200},
		{"GET", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth?types=0,13", "", "", false, 200},
		{"GET", "/smartlock/{smartlockId}/auth", "/smartlock/1/auth", "", "", false, 403},
		{"GET", "/smartlock/{smartlockId}/auth", "/smartlock/1/auth", "", "wrong", false, 401},
		{"GET", "/smartlock/{smartlockId}/auth/{id}", keypadPath, "", "", false, 200},
		{"GET", "/smartlock/{smartlockId}/auth/{id}", "/smartlock/" + id(lock) + "/auth/nope", "", "", false, 404},
		{"GET", "/smartlock/{smartlockId}/auth/{id}", "/smartlock/1/auth/" + keypad.ID, "", "", false, 403},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":true,"type":0,"allowedFromDate":"2026-12-01T00:00:00.000Z","allowedWeekDays":96}`, "", false, 204},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":true}`, "", false, 409},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(offline) + "/auth",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":true}`, "", false, 204},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/1/auth",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":true}`, "", false, 403},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth", `{"remoteAllowed":true}`, "", false, 400},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth", `{"name":`, "", false, 400},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth", `{}`, "wrong", false, 401},
		{"PUT", "/smartlock/auth", "/smartlock/auth",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":false,"smartlockIds":[` + id(lock2) + `]}`, "", false, 204},
		{"PUT", "/smartlock/auth", "/smartlock/auth", `{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":false}`, "", false, 400},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth",
			`{"type":13,"name":"Flat","code":345678,"remoteAllowed":false,"allowedUntilDate":"2026-12-01T00:00:00.000Z","allowedFromTime":600}`, "", false, 204},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth",
			`{"type":13,"name":"Flat","code":234567,"remoteAllowed":false}`, "", false, 409},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth",
			`{"type":13,"name":"Flat","code":120345,"remoteAllowed":false}`, "", false, 400},
		{"PUT", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(seeded.Locks[2]) + "/auth",
			`{"type":13,"name":"Flat","code":456789,"remoteAllowed":false}`, "", false, 400},
		{"PUT", "/smartlock/auth", "/smartlock/auth",
			`{"type":13,"name":"Flat","code":456789,"remoteAllowed":false,"smartlockIds":[` + id(lock) + `,` + id(lock2) + `]}`, "", false, 204},
		{"GET", "/smartlock/{smartlockId}/auth", "/smartlock/" + id(lock) + "/auth?types=13", "", "", true, 200},
		{"PUT", "/smartlock/auth/advanced", "/smartlock/auth/advanced",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":true,"smartlockIds":[` + id(seeded.Locks[2]) + `]}`, "", false, 200},
		{"PUT", "/smartlock/auth/advanced", "/smartlock/auth/advanced",
			`{"name":"Free","accountUserId":` + id(free) + `,"remoteAllowed":true,"smartlockIds":[` + id(lock) + `]}`, "", false, 409},
		{"PUT", "/smartlock/auth/advanced", "/smartlock/auth/advanced", `{"name":"Free","remoteAllowed":true}`, "", false, 400},
		{"POST", "/smartlock/{smartlockId}/auth/{id}", keypadPath, `{"name":"Keypad 2","enabled":false}`, "", false, 204},
		{"POST", "/smartlock/{smartlockId}/auth/{id}", keypadPath, `{}`, "", false, 400},
		{"GET", "/smartlock/{smartlockId}/auth/{id}", keypadPath, "", "", false, 200}, // with its operationId
		{"POST", "/smartlock/{smartlockId}/auth/{id}", keypadPath, `{"name":"Keypad 3"}`, "", false, 423},
		{"POST", "/smartlock/{smartlockId}/auth/{id}", "/smartlock/1/auth/" + keypad.ID, `{"name":"Keypad 3"}`, "", false, 403},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", keypadPath, "", "", false, 423},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", keypadPath, "", "", true, 204},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", keypadPath, "", "", false, 423},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", keypadPath, "", "", true, 404},
		{"DELETE", "/smartlock/{smartlockId}/auth/{id}", "/smartlock/1/auth/" + keypad.ID, "", "", false, 403},
		{"DELETE", "/smartlock/auth", "/smartlock/auth", `["` + firstAuth.ID + `"]`, "", false, 204},
		{"DELETE", "/smartlock/auth", "/smartlock/auth", `["` + firstAuth.ID + `"]`, "", false, 423},
		{"DELETE", "/smartlock/auth", "/smartlock/auth", `"x"`, "", false, 400},
		{"GET", "/smartlock/log", "/smartlock/log", "", "", false, 200},
		{"GET", "/smartlock/log", "/smartlock/log?accountUserId=" + id(user) + "&action=3&limit=100&fromDate=2026-01-01T00:00:00Z", "", "", false, 200},
		{"GET", "/smartlock/log", "/smartlock/log?id=" + used.ID, "", "", false, 200},
		{"GET", "/smartlock/log", "/smartlock/log?authId=" + typed.AuthID, "", "", false, 200},
		{"GET", "/smartlock/log", "/smartlock/log", "", "wrong", false, 401},
		{"GET", "/smartlock/{smartlockId}/log", "/smartlock/" + id(lock) + "/log?authId=" + used.AuthID, "", "", false, 200},
		{"GET", "/smartlock/{smartlockId}/log", "/smartlock/1/log", "", "", false, 403},
		{"POST", "/smartlock/{smartlockId}/sync", "/smartlock/" + id(lock) + "/sync", "", "", false, 204},
		{"POST", "/smartlock/{smartlockId}/sync", "/smartlock/1/sync", "", "", false, 403},
		{"POST", "/smartlock/{smartlockId}/sync", "/smartlock/" + id(lock) + "/sync", "", "wrong", false, 401},
		{"GET", "/account/user", "/account/user", "", "", false, 200},
		{"GET", "/account/user", "/account/user?offset=1&limit=2", "", "", false, 200},
		{"GET", "/account/user", "/account/user?email=FREE@example.com", "", "", false, 200},
		{"GET", "/account/user", "/account/user?offset=x", "", "", false, 200},
		{"PUT", "/account/user", "/account/user", `{"email":"new@example.com","name":"New","language":"de"}`, "", false, 200},
		{"PUT", "/account/user", "/account/user", `{"email":"new@example.com","name":"Again"}`, "", false, 400},
		{"PUT", "/account/user", "/account/user", `{"email":"not an email","name":"New"}`, "", false, 400},
		{"PUT", "/account/user", "/account/user", `{"email":"x@example.com","name":"X","language":"xx"}`, "", false, 400},
		{"GET", "/account/user/{accountUserId}", "/account/user/" + id(user), "", "", false, 200},
		{"GET", "/account/user/{accountUserId}", "/account/user/999999", "", "", false, 404},
		{"POST", "/account/user/{accountUserId}", "/account/user/" + id(user), `{"name":"Renamed","language":"fr"}`, "", false, 200},
		{"POST", "/account/user/{accountUserId}", "/account/user/" + id(user), `{"email":"new@example.com"}`, "", false, 409},
		{"POST", "/account/user/{accountUserId}", "/account/user/" + id(user), `{"email":"bad"}`, "", false, 400},
		{"DELETE", "/account/user/{accountUserId}", "/account/user/" + id(user), "", "", false, 423}, // firstAuth is being deleted
		{"DELETE", "/account/user/{accountUserId}", "/account/user/" + id(user), "", "", true, 204},
		{"DELETE", "/account/user/{accountUserId}", "/account/user/" + id(user), "", "", false, 404},
	}
	answered := map[string][]string{} // successful bodies by operation
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			op := sp.operation(t, tt.method, tt.pattern)
			if tt.settle {
				c.Advance(time.Minute)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			token := cmpOr(tt.token, "t0ken")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.want, raw)
			}
			if resp.StatusCode < 300 {
				answered[tt.method+" "+tt.pattern] = append(answered[tt.method+" "+tt.pattern], string(raw))
			}
			declared, ok := op.Responses[strconv.Itoa(resp.StatusCode)]
			if !ok && !extraStatus(tt.method, tt.pattern, resp.StatusCode) {
				t.Errorf("status %d is not among the spec's responses for %s %s", resp.StatusCode, tt.method, tt.pattern)
			}
			var schema map[string]any
			switch {
			case resp.StatusCode >= 400:
				schema = errorSchema
			case declared.Schema != nil:
				schema = declared.Schema
			}
			if schema == nil {
				if len(bytes.TrimSpace(raw)) != 0 {
					t.Errorf("the spec declares no body for %d, got %s", resp.StatusCode, raw)
				}
				return
			}
			if v := sp.check(schema, decode(t, raw), "$"); len(v) > 0 {
				t.Errorf("body does not conform:\n%s", strings.Join(v, "\n"))
			}
		})
	}
	t.Run("the rows checked what matters", func(t *testing.T) {
		// Else the schemas of operationId and SmartlockLog were checked on
		// nothing.
		for _, want := range []struct{ pattern, has string }{
			{"GET /smartlock", `"keypad2Paired":true`},
			{"GET /smartlock/{smartlockId}/auth", `"code":345678`},
			{"GET /smartlock/log", `"trigger":255`},
			{"GET /smartlock/log", `"state":224`},
			{"GET /smartlock/{smartlockId}/auth/{id}", `"operationId":"`},
			{"GET /smartlock/log", `"authId":"` + used.AuthID + `"`},
			{"GET /smartlock/{smartlockId}/log", `"deviceType":0`},
		} {
			if !slices.ContainsFunc(answered[want.pattern], func(b string) bool { return strings.Contains(b, want.has) }) {
				t.Errorf("no answer to %s had %s", want.pattern, want.has)
			}
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestWebhookBodiesUseDocumentedFields(t *testing.T) {
	// The AuthCreation webhook is not in the spec; FACTS documents its shape.
	b, err := json.Marshal(wireAuthCreation{Type: authCreationType, RequestID: "r", Detail: []wireAuthDetail{
		{SmartlockID: 1, ErrorCode: "ff", ID: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"AuthCreation","requestId":"r","success":false,"detail":[{"smartlockId":1,"success":false,"errorCode":"ff","id":"x"}]}`
	if string(b) != want {
		t.Fatalf("failure webhook\n got %s\nwant %s", b, want)
	}
}
