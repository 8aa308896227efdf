package web

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// csvHeader names the columns of the CSV export.
var csvHeader = []string{"id", "name", "email", "language", "lock", "status", "delivery",
	"sent_at", "expires_at", "accepted_at", "last_used_at", "resend_count"}

// exportCSV sends the invitations GET /api/v1/invitations would list, with
// the same filters, as a CSV download: a header row, then one row per
// invitation. Times are RFC 3339 in UTC, empty when unset; the expiry is
// the one the API shows.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	invs := s.svc.Invitations(f)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(csvHeader)
	for _, inv := range invs {
		v := viewOf(inv)
		_ = cw.Write(cells(string(v.ID), v.Name, v.Email, v.Language, v.LockName, string(v.Status), string(v.Delivery),
			csvTime(v.SentAt), csvTime(v.ExpiresAt), csvTime(v.AcceptedAt), csvTime(v.LastUsedAt), strconv.Itoa(v.ResendCount)))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("invitations exported", "rows", len(invs), "actor", actorOf(r))
	attachment(w, "text/csv; charset=utf-8", "nuki-invitations.csv")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cells makes values safe to open in a spreadsheet: one that starts as a
// formula would (= + - @, a tab or a carriage return) gets a leading
// apostrophe, so that it is shown as text and never run.
func cells(values ...string) []string {
	for i, v := range values {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			values[i] = "'" + v
		}
	}
	return values
}
