package nukiweb

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

func TestDecodeArray(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []wireUser
		wantErr string // "" for none
	}{
		{"empty array", `[]`, nil, ""},
		{"null", `null`, nil, ""},
		{"white space", " \n[ ]\n", nil, ""},
		{"elements", `[{"accountUserId":1,"email":"a@example.com","name":"A"},{"accountUserId":2}]`,
			[]wireUser{{AccountUserID: 1, Email: "a@example.com", Name: "A"}, {AccountUserID: 2}}, ""},
		{"null element", `[null,{"accountUserId":3}]`, []wireUser{{}, {AccountUserID: 3}}, ""},
		{"object", `{"code":200}`, nil, "not a JSON array but starts with an object"},
		{"string", `"a@example.com"`, nil, "not a JSON array but starts with a string"},
		{"number", `42`, nil, "not a JSON array but starts with a number"},
		{"empty answer", ``, nil, io.ErrUnexpectedEOF.Error()},
		{"truncated", `[{"accountUserId":1},{"accountUserId":2`, []wireUser{{AccountUserID: 1}}, "unexpected EOF"},
		{"unclosed", `[{"accountUserId":1}`, []wireUser{{AccountUserID: 1}}, "unexpected EOF"},
		{"wrong element", `[{"accountUserId":1},7]`, []wireUser{{AccountUserID: 1}}, "cannot unmarshal number"},
		{"data after the array", `[] []`, nil, "data after the array"},
		{"invalid JSON", `[{"accountUserId":1,}]`, nil, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []wireUser
			err := decodeArray(strings.NewReader(tc.in), func(w *wireUser) error {
				got = append(got, *w)
				return nil
			})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("element %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDecodeArrayStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := decodeArray(strings.NewReader(`[{},{},{}]`), func(*wireLock) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("error %v after %d elements, want stop after 2", err, n)
	}
}

// endless is an answer that never ends: "[" and then users for ever. It
// counts the bytes read from it.
type endless struct {
	read int64
	next string
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.next == "" {
			e.next = `{"accountUserId":1,"email":"u@example.com","name":"User"},`
			if e.read == 0 && n == 0 {
				e.next = "[" + e.next
			}
		}
		c := copy(p[n:], e.next)
		e.next = e.next[c:]
		n += c
	}
	e.read += int64(n)
	return n, nil
}

func TestHugeAnswerStopsAtTheLimit(t *testing.T) {
	const limit = 1 << 20
	t.Run("decodeArray", func(t *testing.T) {
		src := &endless{}
		n := 0
		err := decodeArray(io.LimitReader(src, limit), func(*wireUser) error { n++; return nil })
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v, want io.ErrUnexpectedEOF", err)
		}
		if src.read > limit || n == 0 {
			t.Fatalf("read %d bytes (limit %d), %d users", src.read, limit, n)
		}
	})
	t.Run("client", func(t *testing.T) {
		src := &endless{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(w, io.LimitReader(src, 4*limit))
		}))
		defer srv.Close()
		c := New(srv.URL, "token", Options{})
		c.maxBody = limit
		_, err := c.FindUser(context.Background(), "u@example.com")
		var ne *bridge.NukiError
		if !errors.As(err, &ne) || !errors.Is(err, bridge.ErrNukiRejected) || ne.Description != "unreadable answer" {
			t.Fatalf("error %v, want an unreadable answer", err)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error %v does not say the answer was cut at the limit", err)
		}
	})
}

// A body cut off in transit is a transport failure that is retried, and the
// retry's answer alone is kept: nothing of the failed attempt leaks into it.
func TestCutBodyIsRetriedAfresh(t *testing.T) {
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/smartlock/auth":
			attempts++
			if attempts == 1 {
				w.Header().Set("Content-Length", "1000")
				_, _ = io.WriteString(w, `[{"id":"a1","smartlockId":1,"accountUserId":5,"type":0},{"id":"a2"`)
				return
			}
			_, _ = io.WriteString(w, `[{"id":"a3","smartlockId":1,"accountUserId":5,"type":0}]`)
		default:
			_, _ = io.WriteString(w, `[]`)
		}
	}))
	defer srv.Close()
	c := New(srv.URL, "token", Options{Sleep: func(context.Context, time.Duration) error { return nil }})
	snap, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || len(snap.Auths) != 1 || snap.Auths[0].ID != "a3" {
		t.Fatalf("%d attempts, auths %+v; want 2 attempts and only a3", attempts, snap.Auths)
	}
}
