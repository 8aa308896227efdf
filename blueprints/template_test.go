package blueprints_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file evaluates Home Assistant templates (Jinja) in the small subset
// the blueprints use, so that the tests render what Home Assistant would
// send. Anything outside the subset is an error, never a guess, so a
// blueprint that starts using more fails its test until the subset (and
// this list) grows:
//
//   - text with {{ expression }} parts; no {% %} statements, no {# #};
//   - literals: 'strings' or "strings", integers, true/false, the empty list [];
//   - variables and attributes: name, context.id, trigger.payload_json.lock;
//     a missing attribute is undefined, as in Jinja;
//   - x ~ y joins the text of both (integers written in decimal);
//   - a if c else b, where c is true unless undefined, false, 0, '' or [];
//   - s[:n], the first n characters of a string;
//   - d.isoformat(), a datetime as ISO 8601 (Python's format: seconds, and
//     the offset when d has a zone);
//   - filters: default(v) (v when undefined), to_json, as_datetime
//     ("2026-05-01 15:00:00", optionally with T and an offset; without one
//     the datetime is naive), as_local (a naive datetime is taken as local
//     time, an aware one converted: Home Assistant's dt_util.as_local),
//     map('int') (Jinja's int: a number's text, else 0), list,
//     join(separator) and slugify (lower-case ASCII letters and digits
//     joined by "_", common accented letters spelled in ASCII; Home
//     Assistant transliterates every letter, here rarer ones separate words:
//     ASCII either way).
//
// An undefined variable may only be tested or given a default: any other use
// is an error naming it. (Home Assistant logs a warning and renders an empty
// text instead; being stricter catches a forgotten default.)

// undefined is the value of a variable or attribute that does not exist.
type undefined struct{ name string }

// datetime is a Python datetime: naive ones have no zone yet.
type datetime struct {
	t     time.Time
	naive bool
}

// renderTemplate renders src with vars; local is Home Assistant's time zone.
func renderTemplate(src string, vars map[string]any, local *time.Location) (string, error) {
	parts, err := parseTemplate(src)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, p := range parts {
		if p.expr == nil {
			out.WriteString(p.text)
			continue
		}
		v, err := p.expr.eval(&scope{vars: vars, local: local})
		if err != nil {
			return "", fmt.Errorf("{{ %s }}: %w", p.text, err)
		}
		s, err := text(v)
		if err != nil {
			return "", fmt.Errorf("{{ %s }}: %w", p.text, err)
		}
		out.WriteString(s)
	}
	return out.String(), nil
}

// templatePart is literal text, or an expression and its source.
type templatePart struct {
	text string
	expr node
}

// parseTemplate splits src into text and parsed expressions.
func parseTemplate(src string) ([]templatePart, error) {
	if strings.Contains(src, "{%") || strings.Contains(src, "{#") {
		return nil, fmt.Errorf("%q: statements and comments ({%% %%}, {# #}) are outside the supported subset", src)
	}
	var parts []templatePart
	rest := src
	for {
		start := strings.Index(rest, "{{")
		if start < 0 {
			if rest != "" {
				parts = append(parts, templatePart{text: rest})
			}
			return parts, nil
		}
		if start > 0 {
			parts = append(parts, templatePart{text: rest[:start]})
		}
		p := &parser{src: rest[start+2:]}
		if err := p.next(); err != nil {
			return nil, err
		}
		expr, err := p.expr()
		if err != nil {
			return nil, fmt.Errorf("%q: %w", src, err)
		}
		if p.tok.kind == tokEOF {
			return nil, fmt.Errorf("%q: unterminated {{", src)
		}
		if p.tok.kind != tokEnd {
			return nil, fmt.Errorf("%q: unexpected %q where }} should follow", src, p.tok.text)
		}
		parts = append(parts, templatePart{text: strings.TrimSpace(p.src[:p.tokAt]), expr: expr})
		rest = p.src[p.pos:]
	}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokEnd         // }}
	tokName
	tokString
	tokInt
	tokPunct
)

type token struct {
	kind tokKind
	text string // the source; a string's value for tokString
}

// parser reads one expression by recursive descent:
//
//	expr    = concat [ "if" concat "else" expr ]
//	concat  = filters { "~" filters }
//	filters = postfix { "|" name [ "(" [ expr { "," expr } ] ")" ] }
//	postfix = primary { "." name [ "(" ")" ] | "[" ":" int "]" }
//	primary = string | int | "true" | "false" | "[" "]" | name | "(" expr ")"
type parser struct {
	src   string
	pos   int // after tok
	tokAt int // where tok starts
	tok   token
}

func (p *parser) next() error {
	s := p.src
	i := p.pos
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	p.tokAt = i
	switch {
	case i >= len(s):
		p.tok = token{kind: tokEOF}
	case strings.HasPrefix(s[i:], "}}"):
		p.tok, i = token{kind: tokEnd, text: "}}"}, i+2
	case s[i] == '\'' || s[i] == '"':
		end := strings.IndexByte(s[i+1:], s[i])
		if end < 0 {
			return errors.New("unterminated string")
		}
		value := s[i+1 : i+1+end]
		if strings.ContainsRune(value, '\\') {
			return errors.New("escapes in strings are outside the supported subset")
		}
		p.tok, i = token{kind: tokString, text: value}, i+end+2
	case s[i] >= '0' && s[i] <= '9':
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		p.tok, i = token{kind: tokInt, text: s[i:j]}, j
	case s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z':
		j := i
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		p.tok, i = token{kind: tokName, text: s[i:j]}, j
	case strings.ContainsRune("()[].,|~:", rune(s[i])):
		p.tok, i = token{kind: tokPunct, text: s[i : i+1]}, i+1
	default:
		return fmt.Errorf("%q is outside the supported subset", s[i:i+1])
	}
	p.pos = i
	return nil
}

func (p *parser) is(kind tokKind, text string) bool { return p.tok.kind == kind && p.tok.text == text }

func (p *parser) expect(kind tokKind, text string) error {
	if !p.is(kind, text) {
		return fmt.Errorf("expected %q, found %q", text, p.tok.text)
	}
	return p.next()
}

func (p *parser) expr() (node, error) {
	then, err := p.concat()
	if err != nil || !p.is(tokName, "if") {
		return then, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	cond, err := p.concat()
	if err != nil {
		return nil, err
	}
	if err := p.expect(tokName, "else"); err != nil {
		return nil, err
	}
	otherwise, err := p.expr()
	if err != nil {
		return nil, err
	}
	return condNode{cond: cond, then: then, otherwise: otherwise}, nil
}

func (p *parser) concat() (node, error) {
	first, err := p.filters()
	if err != nil || !p.is(tokPunct, "~") {
		return first, err
	}
	parts := concatNode{first}
	for p.is(tokPunct, "~") {
		if err := p.next(); err != nil {
			return nil, err
		}
		n, err := p.filters()
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
	}
	return parts, nil
}

func (p *parser) filters() (node, error) {
	n, err := p.postfix()
	for err == nil && p.is(tokPunct, "|") {
		if err = p.next(); err != nil {
			break
		}
		if p.tok.kind != tokName {
			return nil, fmt.Errorf("expected a filter name, found %q", p.tok.text)
		}
		f := filterNode{arg: n, name: p.tok.text}
		if err = p.next(); err != nil {
			break
		}
		if p.is(tokPunct, "(") {
			if f.args, err = p.args(); err != nil {
				break
			}
		}
		if _, ok := filters[f.name]; !ok {
			return nil, fmt.Errorf("filter %s is outside the supported subset", f.name)
		}
		n = f
	}
	return n, err
}

func (p *parser) args() ([]node, error) {
	if err := p.expect(tokPunct, "("); err != nil {
		return nil, err
	}
	var args []node
	for !p.is(tokPunct, ")") {
		if len(args) > 0 {
			if err := p.expect(tokPunct, ","); err != nil {
				return nil, err
			}
		}
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	return args, p.next()
}

func (p *parser) postfix() (node, error) {
	n, err := p.primary()
	for err == nil {
		switch {
		case p.is(tokPunct, "."):
			if err = p.next(); err != nil {
				return nil, err
			}
			if p.tok.kind != tokName {
				return nil, fmt.Errorf("expected an attribute name, found %q", p.tok.text)
			}
			name := p.tok.text
			if err = p.next(); err != nil {
				return nil, err
			}
			if !p.is(tokPunct, "(") {
				n = attrNode{of: n, name: name}
				continue
			}
			if name != "isoformat" {
				return nil, fmt.Errorf("method %s is outside the supported subset", name)
			}
			if err = p.next(); err != nil {
				return nil, err
			}
			if err = p.expect(tokPunct, ")"); err != nil {
				return nil, err
			}
			n = isoformatNode{of: n}
		case p.is(tokPunct, "["):
			if err = p.next(); err != nil {
				return nil, err
			}
			if err = p.expect(tokPunct, ":"); err != nil {
				return nil, fmt.Errorf("only slices [:n] are supported: %w", err)
			}
			if p.tok.kind != tokInt {
				return nil, fmt.Errorf("expected the slice's end, found %q", p.tok.text)
			}
			end, _ := strconv.Atoi(p.tok.text)
			if err = p.next(); err != nil {
				return nil, err
			}
			if err = p.expect(tokPunct, "]"); err != nil {
				return nil, err
			}
			n = sliceNode{of: n, end: end}
		default:
			return n, nil
		}
	}
	return nil, err
}

func (p *parser) primary() (node, error) {
	t := p.tok
	switch {
	case t.kind == tokString:
		return literal{t.text}, p.next()
	case t.kind == tokInt:
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, err
		}
		return literal{i}, p.next()
	case t.kind == tokName && (t.text == "true" || t.text == "True"):
		return literal{true}, p.next()
	case t.kind == tokName && (t.text == "false" || t.text == "False"):
		return literal{false}, p.next()
	case t.kind == tokName && (t.text == "if" || t.text == "else"):
		return nil, fmt.Errorf("unexpected %q", t.text)
	case t.kind == tokName:
		return variable(t.text), p.next()
	case p.is(tokPunct, "["):
		if err := p.next(); err != nil {
			return nil, err
		}
		return literal{[]any{}}, p.expect(tokPunct, "]")
	case p.is(tokPunct, "("):
		if err := p.next(); err != nil {
			return nil, err
		}
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		return n, p.expect(tokPunct, ")")
	case t.kind == tokEOF:
		return nil, errors.New("unterminated {{")
	}
	return nil, fmt.Errorf("unexpected %q", t.text)
}

// scope is what an expression sees.
type scope struct {
	vars  map[string]any
	local *time.Location
}

type node interface {
	eval(s *scope) (any, error)
}

type (
	literal  struct{ v any }
	variable string
	attrNode struct {
		of   node
		name string
	}
	isoformatNode struct{ of node }
	sliceNode     struct {
		of  node
		end int
	}
	filterNode struct {
		arg  node
		name string
		args []node
	}
	concatNode []node
	condNode   struct{ cond, then, otherwise node }
)

func (l literal) eval(*scope) (any, error) { return l.v, nil }

func (v variable) eval(s *scope) (any, error) {
	if x, ok := s.vars[string(v)]; ok {
		return x, nil
	}
	return undefined{string(v)}, nil
}

func (a attrNode) eval(s *scope) (any, error) {
	of, err := a.of.eval(s)
	if err != nil {
		return nil, err
	}
	switch m := of.(type) {
	case map[string]any:
		if x, ok := m[a.name]; ok {
			return x, nil
		}
		return undefined{a.name}, nil
	case undefined:
		return nil, fmt.Errorf("%s is undefined, so it has no attribute %s", m.name, a.name)
	}
	return nil, fmt.Errorf("a %T has no attribute %s", of, a.name)
}

func (i isoformatNode) eval(s *scope) (any, error) {
	of, err := i.of.eval(s)
	if err != nil {
		return nil, err
	}
	d, ok := of.(datetime)
	if !ok {
		return nil, fmt.Errorf("isoformat() of %s, not a datetime", describe(of))
	}
	out := d.t.Format("2006-01-02T15:04:05")
	if us := d.t.Nanosecond() / 1000; us != 0 {
		out += fmt.Sprintf(".%06d", us)
	}
	if !d.naive {
		out += d.t.Format("-07:00")
	}
	return out, nil
}

func (sl sliceNode) eval(s *scope) (any, error) {
	of, err := sl.of.eval(s)
	if err != nil {
		return nil, err
	}
	str, ok := of.(string)
	if !ok {
		return nil, fmt.Errorf("[:%d] of %s, not a string", sl.end, describe(of))
	}
	if utf8.RuneCountInString(str) <= sl.end {
		return str, nil
	}
	return string([]rune(str)[:sl.end]), nil
}

func (c concatNode) eval(s *scope) (any, error) {
	var b strings.Builder
	for _, n := range c {
		v, err := n.eval(s)
		if err != nil {
			return nil, err
		}
		t, err := text(v)
		if err != nil {
			return nil, fmt.Errorf("~: %w", err)
		}
		b.WriteString(t)
	}
	return b.String(), nil
}

func (c condNode) eval(s *scope) (any, error) {
	cond, err := c.cond.eval(s)
	if err != nil {
		return nil, err
	}
	if truthy(cond) {
		return c.then.eval(s)
	}
	return c.otherwise.eval(s)
}

func (f filterNode) eval(s *scope) (any, error) {
	v, err := f.arg.eval(s)
	if err != nil {
		return nil, err
	}
	args := make([]any, len(f.args))
	for i, a := range f.args {
		if args[i], err = a.eval(s); err != nil {
			return nil, err
		}
	}
	if u, ok := v.(undefined); ok && f.name != "default" {
		return nil, fmt.Errorf("%s is undefined (give it a default before | %s)", u.name, f.name)
	}
	out, err := filters[f.name](s, v, args)
	if err != nil {
		return nil, fmt.Errorf("| %s: %w", f.name, err)
	}
	return out, nil
}

// filters are the supported filters; v is never undefined except for default.
var filters = map[string]func(s *scope, v any, args []any) (any, error){
	"default": func(_ *scope, v any, args []any) (any, error) {
		if len(args) != 1 {
			return nil, errors.New("takes one argument")
		}
		if _, ok := v.(undefined); ok {
			return args[0], nil
		}
		return v, nil
	},
	"to_json": func(_ *scope, v any, args []any) (any, error) {
		if len(args) != 0 {
			return nil, errors.New("takes no arguments here")
		}
		if err := jsonable(v); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
	"as_datetime": func(_ *scope, v any, args []any) (any, error) {
		str, ok := v.(string)
		if !ok || len(args) != 0 {
			return nil, fmt.Errorf("takes a string and no arguments, not %s", describe(v))
		}
		str = strings.Replace(str, "T", " ", 1)
		for _, layout := range []string{"2006-01-02 15:04:05Z07:00", "2006-01-02 15:04Z07:00", "2006-01-02 15:04:05.999999Z07:00"} {
			if t, err := time.Parse(layout, str); err == nil {
				return datetime{t: t}, nil
			}
		}
		for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05.999999"} {
			if t, err := time.Parse(layout, str); err == nil {
				return datetime{t: t, naive: true}, nil
			}
		}
		return nil, fmt.Errorf("%q is not a date and time", str)
	},
	"as_local": func(s *scope, v any, args []any) (any, error) {
		d, ok := v.(datetime)
		if !ok || len(args) != 0 {
			return nil, fmt.Errorf("takes a datetime and no arguments, not %s", describe(v))
		}
		if d.naive {
			t := d.t
			return datetime{t: time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), s.local)}, nil
		}
		return datetime{t: d.t.In(s.local)}, nil
	},
	"map": func(_ *scope, v any, args []any) (any, error) {
		list, ok := v.([]any)
		if !ok || len(args) != 1 || args[0] != "int" {
			return nil, fmt.Errorf("only map('int') of a list is supported, not of %s", describe(v))
		}
		out := make([]any, len(list))
		for i, x := range list {
			out[i] = jinjaInt(x)
		}
		return out, nil
	},
	"list": func(_ *scope, v any, args []any) (any, error) {
		list, ok := v.([]any)
		if !ok || len(args) != 0 {
			return nil, fmt.Errorf("takes a list here, not %s", describe(v))
		}
		return list, nil
	},
	"join": func(_ *scope, v any, args []any) (any, error) {
		list, ok := v.([]any)
		sep, sepOK := "", true
		if len(args) == 1 {
			sep, sepOK = args[0].(string)
		}
		if !ok || !sepOK || len(args) > 1 {
			return nil, fmt.Errorf("takes a list and a separator, not %s", describe(v))
		}
		texts := make([]string, len(list))
		for i, x := range list {
			t, err := text(x)
			if err != nil {
				return nil, err
			}
			texts[i] = t
		}
		return strings.Join(texts, sep), nil
	},
	"slugify": func(_ *scope, v any, args []any) (any, error) {
		str, ok := v.(string)
		if !ok || len(args) != 0 {
			return nil, fmt.Errorf("takes a string and no arguments here, not %s", describe(v))
		}
		var b strings.Builder
		gap := false
		for _, r := range strings.ToLower(str) {
			s := string(r)
			if f, ok := latinFold[r]; ok {
				s = f
			} else if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
				gap = true
				continue
			}
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteString(s)
		}
		return b.String(), nil
	},
}

// latinFold spells common accented letters in ASCII, as the transliteration
// behind Home Assistant's slugify does.
var latinFold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'æ': "ae", 'ç': "c", 'č': "c", 'ď': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ě': "e", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ł': "l",
	'ñ': "n", 'ň': "n", 'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'œ': "oe", 'ř': "r",
	'š': "s", 'ß': "ss", 'ť': "t", 'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ů': "u", 'ý': "y", 'ÿ': "y", 'ž': "z",
}

// jinjaInt is Jinja's int filter: the number a value's text holds, or 0.
func jinjaInt(x any) any {
	switch v := x.(type) {
	case int64:
		return v
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	case string:
		s := strings.TrimSpace(v)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int64(f)
		}
	}
	return int64(0)
}

// text is Python's str() of the values the subset knows.
func text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case undefined:
		return "", fmt.Errorf("%s is undefined", x.name)
	}
	return "", fmt.Errorf("writing out %s is outside the supported subset", describe(v))
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil, undefined:
		return false
	case string:
		return x != ""
	case bool:
		return x
	case int64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// jsonable refuses what Home Assistant's to_json cannot encode either.
func jsonable(v any) error {
	switch x := v.(type) {
	case nil, string, int64, bool:
		return nil
	case []any:
		for _, e := range x {
			if err := jsonable(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, e := range x {
			if err := jsonable(e); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("cannot encode %s as JSON", describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case undefined:
		return x.name + " (undefined)"
	case datetime:
		return "a datetime"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "none"
	}
	return fmt.Sprintf("%T %v", v, v)
}
