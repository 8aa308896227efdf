package blueprints_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The blueprints, by their path under this folder.
const (
	inviteScript = "script/nuki_invites/invite_guest.yaml"
	accepted     = "automation/nuki_invites/invitation_accepted.yaml"
	expiring     = "automation/nuki_invites/invitation_expiring.yaml"
	expired      = "automation/nuki_invites/invitation_expired.yaml"
)

var allBlueprints = []string{inviteScript, accepted, expiring, expired}

// input is a `!input name` reference, as Home Assistant's loader reads it.
type input string

// blueprint is one blueprint file, decoded.
type blueprint struct {
	path string         // under this folder, with slashes
	doc  map[string]any // the whole document; !input tags are input values
	node *yaml.Node     // the document as parsed, for checks on the source
}

// load reads and decodes a blueprint, failing t if it is not valid YAML of
// a mapping or uses a tag other than !input.
func load(t *testing.T, path string) blueprint {
	t.Helper()
	data, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
	v, err := fromNode(&root)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is not a YAML mapping", path)
	}
	return blueprint{path: path, doc: doc, node: &root}
}

// fromNode turns a YAML node into maps, lists and scalars; integers come out
// as int64 and `!input x` as input("x"). Duplicate keys and unknown tags are
// errors.
func fromNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: one document expected", n.Line)
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				return nil, fmt.Errorf("line %d: keys must be plain strings", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %s appears twice", k.Line, k.Value)
			}
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!input":
			return input(n.Value), nil
		case "!!str", "!!bool", "!!null", "!!int", "!!float":
		default:
			return nil, fmt.Errorf("line %d: tag %s is not one Home Assistant's blueprints use", n.Line, n.Tag)
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if i, ok := v.(int); ok {
			return int64(i), nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// yaml11Words are plain scalars that YAML 1.2 (this decoder) reads as text
// but YAML 1.1 (Home Assistant's loader) as booleans; sexagesimal matches
// what YAML 1.1 reads as a base-60 number (08:30 is 510 there).
var (
	yaml11Words = []string{"y", "yes", "n", "no", "on", "off"}
	sexagesimal = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$`)
)

// ambiguities lists the plain scalars the two YAML versions read differently.
func ambiguities(n *yaml.Node) []string {
	var out []string
	if n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!str" &&
		(slices.Contains(yaml11Words, strings.ToLower(n.Value)) || sexagesimal.MatchString(n.Value)) {
		out = append(out, fmt.Sprintf("line %d: %s means something else to Home Assistant's YAML 1.1 loader: quote it", n.Line, n.Value))
	}
	for _, c := range n.Content {
		out = append(out, ambiguities(c)...)
	}
	return out
}

// meta is the blueprint: section.
func (b blueprint) meta() map[string]any {
	m, _ := b.doc["blueprint"].(map[string]any)
	return m
}

// inputs returns the declared inputs by name, sections flattened.
func (b blueprint) inputs() map[string]map[string]any {
	out := map[string]map[string]any{}
	var walk func(m map[string]any)
	walk = func(m map[string]any) {
		for name, v := range m {
			decl, _ := v.(map[string]any)
			if section, ok := decl["input"].(map[string]any); ok {
				walk(section)
				continue
			}
			out[name] = decl
		}
	}
	in, _ := b.meta()["input"].(map[string]any)
	walk(in)
	return out
}

// references returns the names every !input outside the blueprint: section
// refers to.
func (b blueprint) references() []string {
	set := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case input:
			set[string(x)] = true
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for k, v := range b.doc {
		if k != "blueprint" {
			walk(v)
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// substitute is what Home Assistant makes of the blueprint for a user who
// gave values: the document without its blueprint: section, each !input
// replaced by the value given or else the input's default. It fails t for
// an input with neither.
func (b blueprint) substitute(t *testing.T, values map[string]any) map[string]any {
	t.Helper()
	decls := b.inputs()
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case input:
			if given, ok := values[string(x)]; ok {
				return given
			}
			if def, ok := decls[string(x)]["default"]; ok {
				return def
			}
			t.Fatalf("%s: input %s has no value and no default", b.path, x)
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				out[k] = walk(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = walk(e)
			}
			return out
		}
		return v
	}
	for name := range values {
		if _, ok := decls[name]; !ok {
			t.Fatalf("%s has no input %s", b.path, name)
		}
	}
	out := map[string]any{}
	for k, v := range b.doc {
		if k != "blueprint" {
			out[k] = walk(v)
		}
	}
	return out
}

// renderValues renders the templates among a mapping's values (script and
// trigger variables), each seeing vars.
func renderValues(m map[string]any, vars map[string]any, local *time.Location) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok || !strings.Contains(s, "{{") {
			out[k] = v
			continue
		}
		r, err := renderTemplate(s, vars, local)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}

// berlin is the Home Assistant time zone of the tests.
func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	return loc
}
