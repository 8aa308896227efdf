package web_test

import (
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
	"github.com/nuki-invites/nuki-invites/bridge/web"
)

// TestExportCSV reads the download back and holds each row to the same
// invitation in the JSON list with the same filters.
func TestExportCSV(t *testing.T) {
	s, rb := newRealServer(t, bridge.Options{}, nil)
	h := s.Handler()
	rose := rb.guest("Rose", "rose@example.com", frontDoor)
	rb.guest("=HYPERLINK(\"http://evil.example\")", "formula@example.com", frontDoor, gardenGate)
	rb.guest("+49 guest", "plus@example.com", gardenGate)
	rb.guest("Smith, \"Jo\"", "-dash@example.com", gardenGate)
	rb.guest("@home", "at@example.com", frontDoor)
	rb.sync()
	rb.clock.Advance(time.Hour)
	if _, err := rb.sim.Use(frontDoor.ID, rose.ID, bridge.ActionUnlock); err != nil {
		t.Fatal(err)
	}
	rb.clock.Advance(time.Minute)
	rb.sync()
	if rec := do(t, h, "POST", "/api/v1/invitations", `{"email":"new@example.com","name":"New","smartlock_ids":[22]}`); rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}

	for _, query := range []string{"", "?status=accepted", "?lock=22", "?q=example.com&status=pending,sending", "?q=nobody"} {
		t.Run(query, func(t *testing.T) {
			rec := do(t, h, "GET", "/api/v1/invitations.csv"+query, "")
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" ||
				rec.Header().Get("Content-Disposition") != `attachment; filename="nuki-invitations.csv"` {
				t.Fatalf("%d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"))
			}
			records, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
			if err != nil {
				t.Fatalf("the download is not CSV: %v\n%s", err, rec.Body)
			}
			header := []string{"id", "name", "email", "language", "lock", "status", "delivery",
				"sent_at", "expires_at", "accepted_at", "last_used_at", "resend_count"}
			if !slices.Equal(records[0], header) {
				t.Fatalf("header %q, want %q", records[0], header)
			}
			listed := decode[web.InvitationList](t, do(t, h, "GET", "/api/v1/invitations"+query, "")).Invitations
			if len(records)-1 != len(listed) {
				t.Fatalf("%d rows, the list has %d invitations", len(records)-1, len(listed))
			}
			for i, inv := range listed {
				want := []string{string(inv.ID), textCell(inv.Name), textCell(inv.Email), inv.Language, inv.LockName,
					string(inv.Status), string(inv.Delivery), rfc3339(inv.SentAt), rfc3339(inv.ExpiresAt),
					rfc3339(inv.AcceptedAt), rfc3339(inv.LastUsedAt), strconv.Itoa(inv.ResendCount)}
				if got := records[i+1]; !slices.Equal(got, want) {
					t.Errorf("row %d:\n got %q\nwant %q", i+1, got, want)
				}
			}
		})
	}

	t.Run("what a spreadsheet would run is text", func(t *testing.T) {
		body := do(t, h, "GET", "/api/v1/invitations.csv", "").Body.String()
		for _, cell := range []string{`"'=HYPERLINK(""http://evil.example"")"`, "'+49 guest", "'-dash@example.com", "'@home", `"Smith, ""Jo"""`} {
			if !strings.Contains(body, cell) {
				t.Errorf("the CSV has no cell %s:\n%s", cell, body)
			}
		}
	})
	t.Run("times", func(t *testing.T) {
		records, _ := csv.NewReader(strings.NewReader(do(t, h, "GET", "/api/v1/invitations.csv?q=rose", "").Body.String())).ReadAll()
		row := records[1]
		if row[5] != "accepted" || row[7] != "2026-05-04T12:00:00Z" || row[8] != "" || row[9] != "2026-05-04T13:00:00Z" || row[10] != "2026-05-04T13:00:00Z" {
			t.Errorf("accepted Rose: status %s, sent %q, expires %q, accepted %q, last used %q; want no expiry and UTC times",
				row[5], row[7], row[8], row[9], row[10])
		}
		records, _ = csv.NewReader(strings.NewReader(do(t, h, "GET", "/api/v1/invitations.csv?q=new@", "").Body.String())).ReadAll()
		if row := records[1]; row[5] != "sending" || row[7] == "" || row[8] != "" {
			t.Errorf("sending: status %s, sent %q, expires %q; want sent and no expiry yet", row[5], row[7], row[8])
		}
	})
	wantProblem(t, do(t, h, "GET", "/api/v1/invitations.csv?status=open", ""), 400, `status "open" is not one of`)
}

// textCell is a cell as the export writes it: text a spreadsheet would run
// starts with an apostrophe.
func textCell(s string) string {
	if s != "" && strings.ContainsAny(s[:1], "=+-@\t\r") {
		return "'" + s
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func TestCSVCellsAreNeverFormulas(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=1+1", "'=1+1"}, {"+1", "'+1"}, {"-1", "'-1"}, {"@SUM(A1)", "'@SUM(A1)"},
		{"\tcmd", "'\tcmd"}, {"\rcmd", "'\rcmd"},
		{"", ""}, {"Rose", "Rose"}, {"a=b", "a=b"}, {" =x", " =x"}, {"2026-05-04T12:00:00Z", "2026-05-04T12:00:00Z"},
	}
	for _, tt := range tests {
		if got := web.Cells(tt.in)[0]; got != tt.want {
			t.Errorf("%q becomes %q, want %q", tt.in, got, tt.want)
		}
	}
}
