package labschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/invopop/jsonschema"

	"github.com/netlabdev/netlab/topology"
)

// Title is the schema's title.
const Title = "netlab lab file"

// Schema builds the lab-file schema from topology.Lab and the hint table.
// It fails when a type or key has no hint, or a hint names none.
func Schema() (*jsonschema.Schema, error) { return build(hints()) }

func build(table map[string]typeHint) (*jsonschema.Schema, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:   "yaml", // the parser decodes yaml tags; no omitempty: required
		ExpandedStruct: true,   // the root is the Lab object itself
		Anonymous:      true,   // no $id: editors load the file by path
		Mapper:         mapType,
	}
	s := r.Reflect(&topology.Lab{})
	for name, d := range valueDefs() {
		if s.Definitions[name] != nil {
			return nil, fmt.Errorf("value type %s: clashes with a Go type of that name", name)
		}
		s.Definitions[name] = d
	}
	if err := applyHints(s, table, valueDefs()); err != nil {
		return nil, err
	}
	s.Title = Title
	s.Comments = "Generated from netlab's lab-file types (package topology/labschema; go test ./topology/labschema -update); do not edit. netlab schema prints it."
	return s, nil
}

// JSON is the schema as indented JSON with a final newline, as checked in at
// docs/lab.schema.json. Object keys come in a fixed order (struct fields in
// declaration order, map keys sorted), so the output is stable.
func JSON() ([]byte, error) {
	s, err := Schema()
	if err != nil {
		return nil, err
	}
	return marshal(s)
}

func marshal(s *jsonschema.Schema) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode lab schema: %w", err)
	}
	return b.Bytes(), nil
}

var (
	durationType = reflect.TypeOf(topology.Duration{})
	valueType    = reflect.TypeOf(topology.Value(""))
	statesType   = reflect.TypeOf(topology.States{})
)

// mapType maps topology's custom scalar types (which decode themselves from
// YAML) and uint32 to value types.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch {
	case t == durationType:
		return ref(defDuration)
	case t == valueType:
		return ref(defScalar)
	case t == statesType:
		return ref(defStates)
	case t.Kind() == reflect.Uint32:
		return ref(defUint32)
	}
	return nil
}

// applyHints documents and narrows every object of the schema with the hint
// table. The root is the Lab object (hint "Lab").
func applyHints(s *jsonschema.Schema, table map[string]typeHint, defs map[string]*jsonschema.Schema) error {
	objects := map[string]*jsonschema.Schema{"Lab": s}
	for name, d := range s.Definitions {
		if d.Properties != nil {
			objects[name] = d
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(objects)) {
		obj := objects[name]
		th, ok := table[name]
		if !ok {
			errs = append(errs, fmt.Errorf("type %s: no hint (add it to hints.go)", name))
			continue
		}
		obj.Description = th.Doc
		var props []string
		for p := obj.Properties.Oldest(); p != nil; p = p.Next() {
			props = append(props, p.Key)
			kh, ok := th.Keys[p.Key]
			if !ok {
				errs = append(errs, fmt.Errorf("type %s: key %s: no hint (add it to hints.go)", name, p.Key))
				continue
			}
			if err := applyKey(p.Value, kh, defs); err != nil {
				errs = append(errs, fmt.Errorf("type %s: key %s: %w", name, p.Key, err))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(th.Keys)) {
			if _, ok := obj.Properties.Get(k); !ok {
				errs = append(errs, fmt.Errorf("type %s: hint for key %s, which the type does not have", name, k))
			}
		}
		exactlyOne := th.OneOf
		if th.OneOfAllBut != nil {
			for _, p := range props {
				if !slices.Contains(th.OneOfAllBut, p) {
					exactlyOne = append(exactlyOne, p)
				}
			}
		}
		for _, k := range exactlyOne {
			if _, ok := obj.Properties.Get(k); !ok {
				errs = append(errs, fmt.Errorf("type %s: one-of names key %s, which the type does not have", name, k))
			}
			obj.OneOf = append(obj.OneOf, &jsonschema.Schema{Required: []string{k}})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(table)) {
		if objects[name] == nil {
			errs = append(errs, fmt.Errorf("hint for type %s, which the lab file does not use", name))
		}
	}
	return errors.Join(errs...)
}

func applyKey(p *jsonschema.Schema, kh keyHint, defs map[string]*jsonschema.Schema) error {
	if kh.Doc == "" {
		return fmt.Errorf("no meaning documented")
	}
	for _, d := range []string{kh.Def, kh.Items, kh.KeyDef, kh.ValueDef} {
		if d != "" && defs[d] == nil {
			return fmt.Errorf("unknown value type %s", d)
		}
	}
	if kh.Def != "" {
		if p.Type != "string" && p.Ref == "" {
			return fmt.Errorf("value type %s for a %s", kh.Def, p.Type)
		}
		*p = *ref(kh.Def)
	}
	p.Description = kh.Doc
	p.Default = kh.Default
	if kh.Items != "" || kh.MinItems > 0 || kh.MaxItems > 0 {
		if p.Type != "array" {
			return fmt.Errorf("list bounds for a %s", p.Type)
		}
		if kh.Items != "" {
			p.Items = ref(kh.Items)
		}
		if kh.MinItems > 0 {
			p.MinItems = u64(uint64(kh.MinItems))
		}
		if kh.MaxItems > 0 {
			p.MaxItems = u64(uint64(kh.MaxItems))
		}
	}
	if kh.KeyDef != "" || kh.ValueDef != "" || kh.NullValues || kh.MinKeys > 0 || kh.MaxKeys > 0 {
		if p.Type != "object" || p.AdditionalProperties == nil {
			return fmt.Errorf("map bounds for a %s", p.Type)
		}
		if kh.KeyDef != "" {
			p.PropertyNames = ref(kh.KeyDef)
		}
		if kh.ValueDef != "" {
			p.AdditionalProperties = ref(kh.ValueDef)
		}
		if kh.NullValues {
			p.AdditionalProperties = &jsonschema.Schema{AnyOf: []*jsonschema.Schema{p.AdditionalProperties, {Type: "null"}}}
		}
		if kh.MinKeys > 0 {
			p.MinProperties = u64(uint64(kh.MinKeys))
		}
		if kh.MaxKeys > 0 {
			p.MaxProperties = u64(uint64(kh.MaxKeys))
		}
	}
	if kh.Min != nil || kh.Max != nil {
		if p.Type != "integer" {
			return fmt.Errorf("number bounds for a %s", p.Type)
		}
		if kh.Min != nil {
			p.Minimum = json.Number(fmt.Sprint(kh.Min))
		}
		if kh.Max != nil {
			p.Maximum = json.Number(fmt.Sprint(kh.Max))
		}
	}
	if len(kh.Enum) > 0 {
		if p.Type != "string" {
			return fmt.Errorf("enum for a %s", p.Type)
		}
		p.Enum = caseForms(kh.Enum, kh.AnyCase)
		for _, v := range kh.Enum {
			if _, ok := v.(string); !ok {
				p.Type = "" // the enum alone says which numbers and words
			}
		}
	}
	return nil
}
