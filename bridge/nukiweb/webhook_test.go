package nukiweb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/nukiweb"
)

const secret bridge.Secret = "webhook-secret"

// sink records what the handler hands on.
type sink struct {
	mu        sync.Mutex
	creations []bridge.AuthCreation
	syncs     int
	err       error
}

func (s *sink) HandleAuthCreation(_ context.Context, r bridge.AuthCreation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.creations = append(s.creations, r)
	return nil
}

func (s *sink) RequestSync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
}

func (s *sink) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.creations), s.syncs
}

func deliver(h http.Handler, body, signature string) int {
	r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(body))
	if signature != "" {
		r.Header.Set(nukiweb.SignatureHeader, signature)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

const success = `{"type":"AuthCreation","requestId":"req-1","success":true,"detail":[{"smartlockId":17,"success":true,"id":"a1","code":"123456789"}]}`

func TestWebhookSignature(t *testing.T) {
	tests := []struct {
		name, signature string
		want            int
	}{
		{"missing", "", 401},
		{"wrong secret", nukiweb.Sign("other", []byte(success)), 401},
		{"not hex", "zz", 401},
		{"uppercase hex of the right digest", strings.ToUpper(nukiweb.Sign(secret, []byte(success))), 200},
		{"valid", nukiweb.Sign(secret, []byte(success)), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			h := nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{})
			if got := deliver(h, success, tt.signature); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if n, _ := s.counts(); (n == 1) != (tt.want == 200) {
				t.Fatalf("%d outcomes handed on", n)
			}
		})
	}
	t.Run("empty secret refuses everything", func(t *testing.T) {
		h := nukiweb.NewWebhookHandler("", &sink{}, nukiweb.WebhookOptions{})
		if got := deliver(h, success, nukiweb.Sign("", []byte(success))); got != 401 {
			t.Fatalf("status %d", got)
		}
	})
}

func TestWebhookPayloads(t *testing.T) {
	tests := []struct {
		name, body string
		sinkErr    error
		want       int
		creation   *bridge.AuthCreation
		syncs      int
	}{
		{name: "success with detail code", body: success, want: 200, creation: &bridge.AuthCreation{RequestID: "req-1", Success: true,
			Results: []bridge.AuthCreationResult{{SmartlockID: 17, Success: true, AuthID: "a1", Code: "123456789"}}}},
		{name: "numeric detail inviteCode",
			body: `{"type":"AuthCreation","requestId":"r","success":true,"detail":[{"smartlockId":1,"success":true,"id":"x","inviteCode":987654321}]}`,
			want: 200, creation: &bridge.AuthCreation{RequestID: "r", Success: true,
				Results: []bridge.AuthCreationResult{{SmartlockID: 1, Success: true, AuthID: "x", Code: "987654321"}}}},
		{name: "top-level code fills locks without their own",
			body: `{"type":"AuthCreation","requestId":"r","success":false,"inviteCode":"111222333","detail":[{"smartlockId":1,"success":true,"id":"x"},{"smartlockId":2,"success":true,"id":"y","code":"444555666"},{"smartlockId":3,"success":false,"errorCode":"ff","id":"z"}]}`,
			want: 200, creation: &bridge.AuthCreation{RequestID: "r", Results: []bridge.AuthCreationResult{
				{SmartlockID: 1, Success: true, AuthID: "x", Code: "111222333"},
				{SmartlockID: 2, Success: true, AuthID: "y", Code: "444555666"},
				{SmartlockID: 3, AuthID: "z", ErrorCode: "ff"}}}},
		{name: "documented failure", body: `{"type":"AuthCreation","requestId":"r","success":false,"detail":[{"smartlockId":123,"success":false,"errorCode":"0x13","id":"i"}]}`,
			want: 200, creation: &bridge.AuthCreation{RequestID: "r",
				Results: []bridge.AuthCreationResult{{SmartlockID: 123, ErrorCode: "0x13", AuthID: "i"}}}},
		{name: "unknown or already handled request id is acknowledged", body: success,
			sinkErr: fmt.Errorf("request: %w", bridge.ErrNotFound), want: 200},
		{name: "an outcome the sink refuses is acknowledged", body: success,
			sinkErr: fmt.Errorf("outcome: %w", bridge.ErrInvalid), want: 200},
		{name: "sink failure lets Nuki deliver again", body: success, sinkErr: fmt.Errorf("disk full"), want: 500},
		{name: "device auths asks for a sync", body: `{"feature":"DEVICE_AUTHS","deleted":false,"smartlockAuth":{"id":"a"}}`, want: 200, syncs: 1},
		{name: "account user asks for a sync", body: `{"feature":"ACCOUNT_USER","accountUser":{}}`, want: 200, syncs: 1},
		{name: "other features are ignored", body: `{"feature":"DEVICE_STATUS","smartlockId":1}`, want: 200},
		// Authentic but unusable: answering anything but 2xx would only make
		// Nuki repeat it and count it against the webhook.
		{name: "malformed JSON is acknowledged", body: `{"type":`, want: 200},
		{name: "AuthCreation without requestId is acknowledged", body: `{"type":"AuthCreation","success":true}`, want: 200},
		{name: "code of the wrong type is acknowledged", body: `{"type":"AuthCreation","requestId":"r","detail":[{"code":true}]}`, want: 200},
		{name: "neither type nor feature is acknowledged", body: `{"hello":1}`, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{err: tt.sinkErr}
			h := nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{})
			if got := deliver(h, tt.body, nukiweb.Sign(secret, []byte(tt.body))); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			n, syncs := s.counts()
			if syncs != tt.syncs {
				t.Errorf("%d syncs requested, want %d", syncs, tt.syncs)
			}
			if tt.creation == nil {
				if n != 0 {
					t.Errorf("unexpected outcome %+v", s.creations)
				}
				return
			}
			if n != 1 {
				t.Fatalf("%d outcomes", n)
			}
			got := s.creations[0]
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", *tt.creation) {
				t.Errorf("outcome\n got %+v\nwant %+v", got, *tt.creation)
			}
			for i, r := range got.Results {
				if r.Code.Reveal() != tt.creation.Results[i].Code.Reveal() {
					t.Errorf("lock %d: code %q, want %q", r.SmartlockID, r.Code.Reveal(), tt.creation.Results[i].Code.Reveal())
				}
			}
		})
	}
}

func TestWebhookReplayAndLimits(t *testing.T) {
	s := &sink{}
	h := nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{MaxBody: 1024})
	sig := nukiweb.Sign(secret, []byte(success))
	if got := deliver(h, success, sig); got != 200 {
		t.Fatalf("first delivery %d", got)
	}
	if got := deliver(h, success, sig); got != 200 {
		t.Fatalf("repeat %d, want 200: Nuki counts anything else as a failed delivery", got)
	}
	if n, _ := s.counts(); n != 1 {
		t.Fatalf("repeat handed on: %d outcomes", n)
	}
	big := `{"feature":"DEVICE_STATUS","pad":"` + strings.Repeat("x", 2048) + `"}`
	if got := deliver(h, big, nukiweb.Sign(secret, []byte(big))); got != 413 {
		t.Fatalf("oversized body %d, want 413", got)
	}
	r := httptest.NewRequest(http.MethodGet, "/webhook", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET answered %d", w.Code)
	}

	t.Run("a failed delivery may come again", func(t *testing.T) {
		s := &sink{err: fmt.Errorf("busy")}
		h := nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{})
		if got := deliver(h, success, sig); got != 500 {
			t.Fatalf("got %d", got)
		}
		s.mu.Lock()
		s.err = nil
		s.mu.Unlock()
		if got := deliver(h, success, sig); got != 200 {
			t.Fatalf("redelivery got %d, want 200", got)
		}
	})
	t.Run("the memory is bounded", func(t *testing.T) {
		s := &sink{}
		h := nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{ReplayMax: 2})
		bodies := []string{`{"feature":"DEVICE_AUTHS","n":1}`, `{"feature":"DEVICE_AUTHS","n":2}`, `{"feature":"DEVICE_AUTHS","n":3}`}
		for _, b := range bodies {
			if got := deliver(h, b, nukiweb.Sign(secret, []byte(b))); got != 200 {
				t.Fatalf("%s: %d", b, got)
			}
		}
		if _, syncs := s.counts(); syncs != 3 {
			t.Fatalf("%d syncs, want 3", syncs)
		}
		if got := deliver(h, bodies[0], nukiweb.Sign(secret, []byte(bodies[0]))); got != 200 {
			t.Fatalf("the oldest body: %d", got)
		}
		if _, syncs := s.counts(); syncs != 4 {
			t.Fatalf("the oldest body is still remembered: %d syncs, want 4", syncs)
		}
		if got := deliver(h, bodies[2], nukiweb.Sign(secret, []byte(bodies[2]))); got != 200 {
			t.Fatalf("a recent body: %d", got)
		}
		if _, syncs := s.counts(); syncs != 4 {
			t.Fatalf("a recent body was forgotten: %d syncs, want 4", syncs)
		}
	})
}

func FuzzWebhook(f *testing.F) {
	for _, seed := range []string{
		success,
		`{"type":"AuthCreation","requestId":"r","success":false,"code":123,"detail":[{"smartlockId":1,"success":false,"errorCode":"ff","id":"x"}]}`,
		`{"feature":"DEVICE_AUTHS","deleted":true,"smartlockAuth":{}}`,
		`{"type":"AuthCreation","requestId":"r","detail":[{"inviteCode":null}]}`,
		`[]`, `null`, `{"type":7}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := &sink{}
		h := nukiweb.NewWebhookHandler(secret, s, nukiweb.WebhookOptions{})
		got := deliver(h, string(body), nukiweb.Sign(secret, body))
		switch got {
		case 200, 413: // every authentic body is acknowledged unless too large
		default:
			t.Fatalf("status %d for %q", got, body)
		}
		n, syncs := s.counts()
		if got != 200 && (n != 0 || syncs != 0) {
			t.Fatalf("refused body %q still acted on", body)
		}
		for _, c := range s.creations {
			if c.RequestID == "" {
				t.Fatalf("outcome without request id from %q", body)
			}
			for _, r := range c.Results {
				if !r.Success && !r.Code.IsZero() {
					t.Fatalf("failed lock carries a code from %q", body)
				}
			}
		}
		if deliver(h, string(body), "") != 401 {
			t.Fatal("unsigned body accepted")
		}
		if got == 200 && deliver(h, string(body), nukiweb.Sign(secret, body)) != 200 {
			t.Fatal("repeat not acknowledged")
		}
		if n2, syncs2 := s.counts(); n2 != n || syncs2 != syncs {
			t.Fatalf("repeat of %q acted on", body)
		}
	})
}
