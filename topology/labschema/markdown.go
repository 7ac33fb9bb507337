package labschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/invopop/jsonschema"
)

// Markdown is the lab-file reference (docs/lab-file.md) generated from the
// schema: one table per object (every key, its type, default and meaning,
// where it appears), then the value types with their rules.
func Markdown() ([]byte, error) {
	s, err := Schema()
	if err != nil {
		return nil, err
	}
	return markdown(s), nil
}

// placeholder names a map's keys in paths, by the value type of its keys.
func placeholder(keyDef string) string {
	switch keyDef {
	case defNodeName:
		return "<node>"
	case defIfName:
		return "<interface>"
	case defSysctlKey, defNodeSysctlKey:
		return "<key>"
	case defTableName:
		return "<table>"
	}
	return "<name>"
}

type mdWriter struct {
	defs   jsonschema.Definitions
	order  []string            // objects in the order first reached from the root
	where  map[string][]string // object -> paths where it appears
	values map[string]bool     // value types used
	b      bytes.Buffer
}

func markdown(s *jsonschema.Schema) []byte {
	w := &mdWriter{defs: s.Definitions, where: map[string][]string{}, values: map[string]bool{}}
	w.walk("Lab", s, "")
	w.f("# Lab file reference\n\n")
	w.f("<!-- Generated from docs/lab.schema.json by `go test ./topology/labschema -update`; do not edit. -->\n\n")
	w.f("%s\n\n", text(s.Description))
	w.f("This reference is generated from the lab file's JSON Schema ([lab.schema.json](lab.schema.json), also printed by `netlab schema`), " +
		"which is generated from the Go types the parser decodes into. The schema checks a file's shape (keys, types, names, enums); " +
		"`netlab validate` checks everything, e.g. that a route's gateway is on a declared subnet. " +
		"Keys marked **required** must be given; a default is what netlab uses when a key is left out. " +
		"`<node>`, `<interface>`, `<key>` and `<table>` in paths stand for names you choose, `[]` for an item of a list.\n\n")
	w.f("Objects: ")
	for i, name := range w.order {
		if i > 0 {
			w.f(", ")
		}
		w.f("[%s](#%s)", name, anchor(name))
	}
	w.f(". [Value types](#value-types).\n")
	for _, name := range w.order {
		w.object(name, w.obj(name, s))
	}
	w.f("\n## Value types\n")
	for _, name := range slices.Sorted(maps.Keys(w.values)) {
		w.value(name, w.defs[name])
	}
	return w.b.Bytes()
}

func (w *mdWriter) f(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

func (w *mdWriter) obj(name string, root *jsonschema.Schema) *jsonschema.Schema {
	if name == "Lab" {
		return root
	}
	return w.defs[name]
}

func defName(s *jsonschema.Schema) string {
	return strings.TrimPrefix(s.Ref, "#/$defs/")
}

// walk records where each object appears, depth first from the root, and
// which value types are used.
func (w *mdWriter) walk(name string, obj *jsonschema.Schema, path string) {
	if path == "" {
		path = "(top level)"
	}
	if len(w.where[name]) == 0 {
		w.order = append(w.order, name)
	}
	w.where[name] = append(w.where[name], path)
	for p := obj.Properties.Oldest(); p != nil; p = p.Next() {
		kp := p.Key
		if name != "Lab" {
			kp = path + "." + p.Key
		}
		w.walkValue(p.Value, kp)
	}
}

func (w *mdWriter) walkValue(s *jsonschema.Schema, path string) {
	if s == nil {
		return
	}
	if s.Ref != "" {
		d := w.defs[defName(s)]
		if d.Properties != nil {
			w.walk(defName(s), d, path)
			return
		}
		w.values[defName(s)] = true
		w.walkValue(&jsonschema.Schema{AnyOf: d.AnyOf, AllOf: d.AllOf, Items: d.Items}, path)
		return
	}
	for _, a := range append(append([]*jsonschema.Schema{}, s.AnyOf...), s.AllOf...) {
		w.walkValue(a, path)
	}
	if s.Items != nil {
		w.walkValue(s.Items, path+"[]")
	}
	if s.PropertyNames != nil {
		w.walkValue(s.PropertyNames, path)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties != jsonschema.FalseSchema {
		var keyDef string
		if s.PropertyNames != nil {
			keyDef = defName(s.PropertyNames)
		}
		w.walkValue(s.AdditionalProperties, path+"."+placeholder(keyDef))
	}
}

func (w *mdWriter) object(name string, obj *jsonschema.Schema) {
	w.f("\n## %s\n\n%s\n\n", name, text(obj.Description))
	w.f("Where: %s.\n\n", codeList(w.where[name]))
	if len(obj.OneOf) > 0 {
		var ks []string
		for _, o := range obj.OneOf {
			ks = append(ks, o.Required...)
		}
		w.f("Exactly one of %s.\n\n", codeList(ks))
	}
	w.f("| key | type | default | meaning |\n|---|---|---|---|\n")
	for p := obj.Properties.Oldest(); p != nil; p = p.Next() {
		key := "`" + p.Key + "`"
		if slices.Contains(obj.Required, p.Key) {
			key += " **required**"
		}
		def := ""
		if p.Value.Default != nil {
			def = "`" + jsonText(p.Value.Default) + "`"
		}
		w.f("| %s | %s | %s | %s |\n", key, cell(w.typeText(p.Value)), def, cell(text(p.Value.Description)))
	}
}

func (w *mdWriter) value(name string, d *jsonschema.Schema) {
	w.f("\n### %s\n\n%s\n\n", name, text(d.Description))
	if t := w.typeText(&jsonschema.Schema{Type: d.Type, AnyOf: d.AnyOf, AllOf: d.AllOf, Enum: d.Enum,
		Minimum: d.Minimum, Maximum: d.Maximum, Items: d.Items, MinItems: d.MinItems}); t != "" {
		w.f("- type: %s\n", t)
	}
	if d.Pattern != "" {
		w.f("- pattern: `%s`\n", d.Pattern)
	}
	if d.MinLength != nil || d.MaxLength != nil {
		w.f("- length: %s characters\n", bounds(d.MinLength, d.MaxLength))
	}
	if d.Not != nil && len(d.Not.Enum) > 0 {
		w.f("- not: %s\n", enumText(d.Not.Enum))
	}
}

// typeText renders a schema's type in words, with links to objects and
// value types.
func (w *mdWriter) typeText(s *jsonschema.Schema) string {
	switch {
	case s.Ref != "":
		return fmt.Sprintf("[%s](#%s)", defName(s), anchor(defName(s)))
	case len(s.AnyOf) > 0:
		var alts []string
		for _, a := range s.AnyOf {
			alts = append(alts, w.typeText(a))
		}
		if n := len(alts); n > 2 {
			return strings.Join(alts[:n-1], ", ") + " or " + alts[n-1]
		}
		return strings.Join(alts, " or ")
	case len(s.AllOf) > 0:
		var alts []string
		for _, a := range s.AllOf {
			if a.Not != nil {
				alts = append(alts, "not matching `"+a.Not.Pattern+"`")
				continue
			}
			alts = append(alts, w.typeText(a))
		}
		return strings.Join(alts, ", ")
	case len(s.Enum) > 0:
		return "one of " + enumText(s.Enum)
	case s.Const != nil:
		return "`" + jsonText(s.Const) + "`"
	}
	switch s.Type {
	case "array":
		t := "list of " + w.typeText(s.Items)
		if s.MinItems != nil || s.MaxItems != nil {
			t += " (" + bounds(s.MinItems, s.MaxItems) + ")"
		}
		return t
	case "object":
		key := "name"
		if s.PropertyNames != nil {
			key = w.typeText(s.PropertyNames)
		}
		t := "map of " + key + " to " + w.typeText(s.AdditionalProperties)
		if s.MinProperties != nil || s.MaxProperties != nil {
			t += " (" + bounds(s.MinProperties, s.MaxProperties) + ")"
		}
		return t
	case "integer", "number":
		switch {
		case s.Minimum != "" && s.Maximum != "":
			return fmt.Sprintf("%s %s-%s", s.Type, s.Minimum, s.Maximum)
		case s.Minimum != "":
			return fmt.Sprintf("%s, at least %s", s.Type, s.Minimum)
		case s.Maximum != "":
			return fmt.Sprintf("%s, at most %s", s.Type, s.Maximum)
		}
	case "string":
		if s.Pattern != "" {
			return "string matching `" + s.Pattern + "`"
		}
	}
	return s.Type
}

func bounds(lo, hi *uint64) string {
	switch {
	case lo != nil && hi != nil && *lo == *hi:
		return fmt.Sprintf("exactly %d", *lo)
	case lo != nil && hi != nil:
		return fmt.Sprintf("%d-%d", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf("at least %d", *lo)
	}
	return fmt.Sprintf("at most %d", *hi)
}

// enumText lists allowed values, folding a word's upper-case form into
// "(any case)".
func enumText(vs []any) string {
	var out []string
	folded := false
	seen := map[string]bool{}
	for _, v := range vs {
		t := jsonText(v)
		if seen[strings.ToLower(t)] {
			folded = true
			continue
		}
		seen[strings.ToLower(t)] = true
		out = append(out, "`"+t+"`")
	}
	s := strings.Join(out, ", ")
	if folded {
		s += " (any case)"
	}
	return s
}

func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func codeList(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

// text escapes prose for Markdown: <lab> is not a tag, net.* no emphasis.
func text(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// anchor is the GitHub anchor of a heading.
func anchor(heading string) string { return strings.ToLower(heading) }
