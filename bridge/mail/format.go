package mail

import (
	"fmt"
	"strings"
	"time"

	"github.com/nuki-invites/nuki-invites/bridge"
)

// The Nuki Smart Lock app in the two app stores. Every template reaches them
// as .AppStoreURL and .PlayStoreURL.
const (
	AppStoreURL  = "https://apps.apple.com/app/nuki-smart-lock/id1044998081"
	PlayStoreURL = "https://play.google.com/store/apps/details?id=io.nuki"
)

var (
	germanWeekdays = [...]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"}
	germanMonths   = [...]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
		"September", "Oktober", "November", "Dezember"}
	germanZones = map[string]string{"CET": "MEZ", "CEST": "MESZ"}
)

// formatTime writes t for a reader of lang: German with German names and a
// 24-hour clock, every other language in English with a 12-hour clock.
func formatTime(t time.Time, lang string) string {
	zone, _ := t.Zone()
	if baseLanguage(lang) == "de" {
		if z, ok := germanZones[zone]; ok {
			zone = z
		}
		return fmt.Sprintf("%s, %d. %s %d, %02d:%02d Uhr (%s)",
			germanWeekdays[t.Weekday()], t.Day(), germanMonths[t.Month()-1], t.Year(), t.Hour(), t.Minute(), zone)
	}
	return t.Format("Monday, January 2, 2006, 3:04 PM") + " (" + zone + ")"
}

// formatDuration writes a validity such as 48h as "48 hours" or "48 Stunden".
// Whole days from three days up read as days, less than an hour as minutes.
func formatDuration(d time.Duration, lang string) string {
	type unit struct{ one, many string }
	var days, hours, minutes unit
	if baseLanguage(lang) == "de" {
		days, hours, minutes = unit{"Tag", "Tagen"}, unit{"Stunde", "Stunden"}, unit{"Minute", "Minuten"}
	} else {
		days, hours, minutes = unit{"day", "days"}, unit{"hour", "hours"}, unit{"minute", "minutes"}
	}
	count := func(n int64, u unit) string {
		if n == 1 {
			return "1 " + u.one
		}
		return fmt.Sprintf("%d %s", n, u.many)
	}
	switch {
	case d >= 72*time.Hour && d%(24*time.Hour) == 0:
		return count(int64(d/(24*time.Hour)), days)
	case d >= time.Hour:
		return count(int64((d+30*time.Minute)/time.Hour), hours)
	default:
		return count(max(1, int64((d+30*time.Second)/time.Minute)), minutes)
	}
}

// statusText names a status for the admin's digest.
func statusText(s bridge.Status, lang string) string {
	de := map[bridge.Status]string{
		bridge.StatusPending:      "offen",
		bridge.StatusExpiringSoon: "läuft bald ab",
		bridge.StatusAccepted:     "angenommen",
		bridge.StatusExpired:      "abgelaufen",
		bridge.StatusRevoked:      "widerrufen",
		bridge.StatusFailed:       "fehlgeschlagen",
	}
	if baseLanguage(lang) == "de" {
		if text, ok := de[s]; ok {
			return text
		}
	}
	return strings.ReplaceAll(string(s), "_", " ")
}

// normalizeLanguage turns "de_DE" or "DE-de" into "de-de".
func normalizeLanguage(lang string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(lang)), "_", "-")
}

// baseLanguage returns the language without its region: "de-at" → "de".
func baseLanguage(lang string) string {
	base, _, _ := strings.Cut(normalizeLanguage(lang), "-")
	return base
}

// maskAddress shows enough of an email address to tell recipients apart in
// a log without naming them: "alice@example.com" → "a***@example.com".
func maskAddress(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	return string(r[0]) + "***@" + domain
}

// Weekday abbreviations by Nuki's weekday bits, Monday (64) first.
var (
	weekdayBits    = [...]int{64, 32, 16, 8, 4, 2, 1}
	germanDays     = [...]string{"Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"}
	englishDays    = [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	everyDayOfWeek = 127
)

// window describes an access window for a reader of lang, in loc.
func window(a bridge.Access, lang string, loc *time.Location) Window {
	var w Window
	if !a.From.IsZero() {
		w.FromAt = a.From.In(loc)
		w.From = formatTime(w.FromAt, lang)
	}
	if !a.Until.IsZero() {
		w.UntilAt = a.Until.In(loc)
		w.Until = formatTime(w.UntilAt, lang)
	}
	if a.WeekDays != 0 && a.WeekDays != everyDayOfWeek {
		names := englishDays
		if baseLanguage(lang) == "de" {
			names = germanDays
		}
		var days []string
		for i, bit := range weekdayBits {
			if a.WeekDays&bit != 0 {
				days = append(days, names[i])
			}
		}
		w.Days = strings.Join(days, ", ")
	}
	if a.FromTime != 0 || a.UntilTime != 0 {
		w.DailyFrom = fmt.Sprintf("%02d:%02d", a.FromTime/60, a.FromTime%60)
		w.DailyUntil = fmt.Sprintf("%02d:%02d", a.UntilTime/60, a.UntilTime%60)
	}
	return w
}
