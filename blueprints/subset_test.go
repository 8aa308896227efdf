package blueprints_test

import (
	"strings"
	"testing"
)

// TestTemplateSubset checks the template evaluator against what Home
// Assistant's Jinja renders for the same templates, and that it refuses
// what it does not support instead of guessing.
func TestTemplateSubset(t *testing.T) {
	local := berlin(t)
	vars := map[string]any{
		"name":    `Zoë "Zo"  Müller!`,
		"empty":   "",
		"ids":     []any{"12", " 7 ", "x"},
		"days":    []any{"mon", "fri"},
		"flag":    true,
		"context": map[string]any{"id": "01JV8Q"},
		"trigger": map[string]any{"payload_json": map[string]any{"lock": "Front door"}},
	}
	renders := []struct{ src, want string }{
		{"plain text", "plain text"},
		{"{{ name | to_json }}", `"Zoë \"Zo\"  Müller!"`},
		{"<{{name}}>", `<Zoë "Zo"  Müller!>`},
		{"{{ missing | default('a') }}", "a"},
		{"{{ empty | default('a') }}", ""},
		{"{{ missing | default([]) | to_json }}", "[]"},
		{"{{ flag | default(false) | to_json }}", "true"},
		{"{{ missing | default(false) | to_json }}", "false"},
		{"{{ days | to_json }}", `["mon","fri"]`},
		{"{{ ids | map('int') | list | to_json }}", "[12,7,0]"},
		{"{{ ids | join('-') }}", "12- 7 -x"},
		{"{{ name | slugify }}", "zoe_zo_muller"},
		{"{{ context.id ~ '-' ~ 42 ~ '-' ~ name | slugify }}", "01JV8Q-42-zoe_zo_muller"},
		{"{{ ('abcdef' ~ 'gh')[:3] }}", "abc"},
		{"{{ 'ab'[:5] }}", "ab"},
		{"{{ (empty | default(''))[:5] | to_json }}", `""`},
		{"{{ ('2026-05-01 15:00:00' | as_datetime).isoformat() }}", "2026-05-01T15:00:00"},
		{"{{ ('2026-05-01 15:00:00' | as_datetime | as_local).isoformat() }}", "2026-05-01T15:00:00+02:00"},
		{"{{ ('2026-12-01T15:00:00' | as_datetime | as_local).isoformat() }}", "2026-12-01T15:00:00+01:00"},
		{"{{ ('2026-05-01T13:00:00+00:00' | as_datetime | as_local).isoformat() }}", "2026-05-01T15:00:00+02:00"},
		{"{{ ('2026-05-01 15:00:00.250000' | as_datetime).isoformat() }}", "2026-05-01T15:00:00.250000"},
		{"{{ (empty | as_datetime).isoformat() if empty else 'none' }}", "none"},
		{"{{ 'yes' if flag else 'no' }}", "yes"},
		{"{{ 'yes' if missing else 'no' }}", "no"},
		{"{{ trigger.payload_json.lock }}: {{ trigger.payload_json.name | default('?') }}", "Front door: ?"},
	}
	for _, tt := range renders {
		got, err := renderTemplate(tt.src, vars, local)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
		} else if got != tt.want {
			t.Errorf("%s renders %q, want %q", tt.src, got, tt.want)
		}
	}

	refusals := []struct{ src, want string }{
		{"{% if flag %}x{% endif %}", "statements"},
		{"{# note #}", "comments"},
		{"{{ name | upper }}", "filter upper"},
		{"{{ name.lower() }}", "method lower"},
		{"{{ name[1:] }}", "slices [:n]"},
		{"{{ name + 'x' }}", `"+"`},
		{"{{ name", "unterminated"},
		{"{{ missing }}", "missing is undefined"},
		{"{{ missing | to_json }}", "missing is undefined"},
		{"{{ missing.id }}", "missing is undefined"},
		{"{{ 'a' ~ missing }}", "missing is undefined"},
		{"{{ days }}", "outside the supported subset"},
		{"{{ 'x' | as_datetime }}", "not a date and time"},
		{"{{ ids | map('upper') }}", "map('int')"},
		{"{{ 'a\\'b' }}", "escapes"},
	}
	for _, tt := range refusals {
		got, err := renderTemplate(tt.src, vars, local)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: rendered %q, error %v; want an error saying %q", tt.src, got, err, tt.want)
		}
	}
}
