package labschema

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/invopop/jsonschema"
	jsv "github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/netlabdev/netlab/scenario"
	"github.com/netlabdev/netlab/topology"
)

// Modeline is the first line of every labs/*.yaml: editors with
// yaml-language-server validate and complete the file with the schema.
const modeline = "# yaml-language-server: $schema=../docs/lab.schema.json"

// checker validates values against the checked-in docs/lab.schema.json (the
// file editors use) with a real draft 2020-12 validator.
type checker struct {
	c   *jsv.Compiler
	loc string
}

func newChecker(t *testing.T) *checker {
	t.Helper()
	abs, err := filepath.Abs(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(abs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsv.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	c := jsv.NewCompiler()
	c.DefaultDraft(jsv.Draft2020)
	if err := c.AddResource(abs, doc); err != nil {
		t.Fatal(err)
	}
	return &checker{c: c, loc: abs}
}

// schema compiles the whole schema ("") or one of its value types.
func (c *checker) schema(t *testing.T, def string) *jsv.Schema {
	t.Helper()
	loc := c.loc
	if def != "" {
		loc += "#/$defs/" + def
	}
	s, err := c.c.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", loc, err)
	}
	return s
}

// yamlToJSON turns a YAML document into the JSON value an editor's YAML
// language server validates: mappings, sequences, and scalars by their YAML
// 1.2 tags.
func yamlToJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: empty document", n.Line)
		}
		return yamlToJSON(n.Content[0])
	case yaml.AliasNode:
		return yamlToJSON(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := yamlToJSON(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			v, err := yamlToJSON(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return n.Value, nil
}

func parseJSON(t *testing.T, data []byte) any {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	v, err := yamlToJSON(&n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// netlabCheck parses and validates a lab as `netlab validate
// --allow-host-sysctl` does.
func netlabCheck(name string, data []byte) error {
	l, err := topology.Parse(name, data)
	if err != nil {
		return err
	}
	_, err = l.Validate(topology.ValidateOptions{AllowHostSysctl: true})
	return err
}

func labFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, g := range []string{"../../labs/*.yaml", "../../e2e/testdata/*.yaml", "testdata/*.yaml"} {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) == 0 {
			t.Fatalf("no %s", g)
		}
		files = append(files, m...)
	}
	return files
}

// TestLabsMatchSchema: every example lab and e2e lab is valid for netlab and
// for the schema.
func TestLabsMatchSchema(t *testing.T) {
	s := newChecker(t).schema(t, "")
	for _, f := range labFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlabCheck(f, data); err != nil {
			t.Errorf("%s: netlab: %v", f, err)
		}
		if err := s.Validate(parseJSON(t, data)); err != nil {
			t.Errorf("%s: schema: %v", f, err)
		}
	}
}

// TestLabsModeline: every labs/*.yaml points editors at the schema.
func TestLabsModeline(t *testing.T) {
	files, err := filepath.Glob("../../labs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no labs: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(string(data), "\n"); first != modeline {
			t.Errorf("%s: first line is %q, want %q", f, first, modeline)
		}
	}
}

const baseLab = `name: neg
nodes:
  h1:
    interfaces:
      eth0: {addresses: [192.0.2.1/24], mtu: 1500}
    sysctls: {net.ipv4.conf.all.rp_filter: 0}
    tables: {isp1: 101}
  h2:
links:
  - endpoints: [h1:eth0, h2:eth0]
scenario:
  - ping: {from: h1, to: 192.0.2.2}
  - sleep: 1s
`

// TestSchemaRejects: files netlab refuses, the schema refuses too (unknown
// keys, wrong types, bad enums and names), and the base lab passes both.
func TestSchemaRejects(t *testing.T) {
	s := newChecker(t).schema(t, "")
	if err := netlabCheck("base", []byte(baseLab)); err != nil {
		t.Fatalf("base lab: netlab: %v", err)
	}
	if err := s.Validate(parseJSON(t, []byte(baseLab))); err != nil {
		t.Fatalf("base lab: schema: %v", err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"unknown top-level key", "name: neg", "name: neg\ncolour: red"},
		{"unknown node key", "    tables:", "    colour: red\n    tables:"},
		{"unknown interface key", "mtu: 1500}", "mtu: 1500, speed: 10}"},
		{"unknown step key", "to: 192.0.2.2}", "to: 192.0.2.2, colour: red}"},
		{"mtu not a number", "mtu: 1500", "mtu: big"},
		{"mtu out of range", "mtu: 1500", "mtu: 20"},
		{"nodes a list", "nodes:\n  h1:", "nodes:\n- h1:"},
		{"addresses a scalar", "addresses: [192.0.2.1/24]", "addresses: 192.0.2.1/24"},
		{"address without prefix", "addresses: [192.0.2.1/24]", "addresses: [192.0.2.1]"},
		{"boolean as string", "mtu: 1500}", `mtu: 1500, dad: "yes"}`},
		{"bad node kind", "  h2:\n", "  h2:\n    kind: switch\n"},
		{"bad interface state", "mtu: 1500}", "mtu: 1500, state: sideways}"},
		{"bad firewall chain", "  h2:\n", "  h2:\n    firewall: [{chain: prerouting, action: drop}]\n"},
		{"bad ping expect", "to: 192.0.2.2}", "to: 192.0.2.2, expect: maybe}"},
		{"bad lab name", "name: neg", "name: Neg_Lab"},
		{"lab named after a verb", "name: neg", "name: watch"},
		{"lab name too long", "name: neg", "name: " + strings.Repeat("a", 33)},
		{"node name with a dash", "  h2:\n", "  h-2:\n"},
		{"interface name too long", "      eth0:", "      eth0eth0eth0eth0:"},
		{"interface named all", "      eth0:", "      all:"},
		{"duration with a space", "sleep: 1s", "sleep: 1 s"},
		{"negative duration", "sleep: 1s", "sleep: -1s"},
		{"duration without unit", "sleep: 1s", "sleep: 1"},
		{"two actions in a step", "  - sleep: 1s", "  - sleep: 1s\n    ping: {from: h1, to: 192.0.2.2}"},
		{"step without action", "  - sleep: 1s", "  - name: nothing"},
		{"three endpoints", "[h1:eth0, h2:eth0]", "[h1:eth0, h2:eth0, h2:eth1]"},
		{"no name", "name: neg\n", ""},
		{"link without endpoints", "  - endpoints: [h1:eth0, h2:eth0]", "  - mtu: 1500"},
		{"root-only sysctl in a node", "net.ipv4.conf.all.rp_filter: 0", "net.ipv4.neigh.default.gc_thresh1: 0"},
		{"sysctl outside net", "net.ipv4.conf.all.rp_filter: 0", "kernel.pid_max: 0"},
		{"reserved table name", "isp1: 101", "main: 101"},
		{"reserved table number", "isp1: 101", "isp1: 254"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(baseLab, tc.old) {
				t.Fatalf("base lab has no %q", tc.old)
			}
			data := []byte(strings.Replace(baseLab, tc.old, tc.new, 1))
			if err := netlabCheck(tc.name, data); err == nil {
				t.Errorf("netlab accepts it:\n%s", data)
			}
			if err := s.Validate(parseJSON(t, data)); err == nil {
				t.Errorf("the schema accepts it:\n%s", data)
			}
		})
	}
}

// site is one object of the schema and a document that reaches it: wrap puts
// a value where the object goes, path is topology's path there.
type site struct {
	name string
	obj  *jsonschema.Schema
	path string
	wrap func(any) any
}

// sites lists every object of the schema once, with a way to reach it.
func sites(s *jsonschema.Schema) []site {
	var out []site
	seen := map[string]bool{}
	var walk func(v *jsonschema.Schema, path string, wrap func(any) any)
	visit := func(name string, obj *jsonschema.Schema, path string, wrap func(any) any) {
		if seen[name] {
			return
		}
		seen[name] = true
		out = append(out, site{name, obj, path, wrap})
		for p := obj.Properties.Oldest(); p != nil; p = p.Next() {
			key := p.Key
			walk(p.Value, joinPath(path, key), func(v any) any { return wrap(map[string]any{key: v}) })
		}
	}
	walk = func(v *jsonschema.Schema, path string, wrap func(any) any) {
		switch {
		case v.Ref != "":
			if d := s.Definitions[defName(v)]; d.Properties != nil {
				visit(defName(v), d, path, wrap)
			}
		case v.Type == "array":
			walk(v.Items, path+"[0]", func(x any) any { return wrap([]any{x}) })
		case v.Type == "object" && v.AdditionalProperties != nil:
			walk(v.AdditionalProperties, path+".x1", func(x any) any { return wrap(map[string]any{"x1": x}) })
		}
		for _, a := range v.AnyOf {
			walk(a, path, wrap)
		}
	}
	visit("Lab", s, "", func(v any) any { return v })
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var knownKeysRE = regexp.MustCompile(`^unknown key "zz_unknown" \(known keys: (.*)\)$`)

// TestKeysAgreeWithParser: at every object of the schema, topology's strict
// parser accepts each of the schema's keys, refuses an unknown sibling, and
// knows exactly the schema's keys there.
func TestKeysAgreeWithParser(t *testing.T) {
	s, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	all := sites(s)
	if len(all) < len(hints()) {
		t.Fatalf("reached %d objects, the hint table has %d", len(all), len(hints()))
	}
	for _, st := range all {
		obj := map[string]any{"zz_unknown": nil}
		var keys []string
		for p := st.obj.Properties.Oldest(); p != nil; p = p.Next() {
			obj[p.Key] = nil // an empty value: only the key is checked
			keys = append(keys, p.Key)
		}
		data, err := yaml.Marshal(st.wrap(obj))
		if err != nil {
			t.Fatal(err)
		}
		_, err = topology.Parse(st.name, data)
		var te *topology.Error
		if !errors.As(err, &te) || len(te.Problems) != 1 {
			t.Errorf("%s at %q: want one problem (the unknown key), got %v\n%s", st.name, st.path, err, data)
			continue
		}
		p := te.Problems[0]
		m := knownKeysRE.FindStringSubmatch(p.Msg)
		if m == nil || p.Path != st.path {
			t.Errorf("%s at %q: want the unknown key refused there, got %v", st.name, st.path, p)
			continue
		}
		sort.Strings(keys)
		if got := strings.Split(m[1], ", "); strings.Join(got, " ") != strings.Join(keys, " ") {
			t.Errorf("%s at %q: the parser knows keys %v, the schema %v", st.name, st.path, got, keys)
		}
	}
}

// enumSites finds, in a lab document, every place of a key whose enum comes
// from the hint table ("Route.type" -> paths).
func enumSites(s *jsonschema.Schema, doc any) map[string][]string {
	out := map[string][]string{}
	table := hints()
	var walk func(v *jsonschema.Schema, x any, path string)
	object := func(name string, obj *jsonschema.Schema, x any, path string) {
		m, _ := x.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p, ok := obj.Properties.Get(k)
			if !ok {
				continue
			}
			if len(table[name].Keys[k].Enum) > 0 {
				out[name+"."+k] = append(out[name+"."+k], joinPath(path, k))
			}
			walk(p, m[k], joinPath(path, k))
		}
	}
	walk = func(v *jsonschema.Schema, x any, path string) {
		switch {
		case v.Ref != "":
			if d := s.Definitions[defName(v)]; d.Properties != nil {
				object(defName(v), d, x, path)
			}
		case v.Type == "array":
			l, _ := x.([]any)
			for i, it := range l {
				walk(v.Items, it, fmt.Sprintf("%s[%d]", path, i))
			}
		case v.Type == "object" && v.AdditionalProperties != nil:
			m, _ := x.(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				walk(v.AdditionalProperties, m[k], joinPath(path, k))
			}
		}
		for _, a := range v.AnyOf {
			walk(a, x, path)
		}
	}
	object("Lab", s, doc, "")
	return out
}

// set replaces the value at a path (a.b[1].c) of a decoded document.
func set(doc any, path string, val any) error {
	parts := strings.Split(strings.ReplaceAll(path, "[", ".["), ".")
	cur := doc
	for i, p := range parts {
		last := i == len(parts)-1
		if strings.HasPrefix(p, "[") {
			var idx int
			if _, err := fmt.Sscanf(p, "[%d]", &idx); err != nil {
				return err
			}
			l := cur.([]any)
			if last {
				l[idx] = val
				return nil
			}
			cur = l[idx]
			continue
		}
		m := cur.(map[string]any)
		if last {
			m[p] = val
			return nil
		}
		cur = m[p]
	}
	return nil
}

// problemsAt are the validator's problems about exactly path.
func problemsAt(name string, data []byte, path string) []string {
	err := netlabCheck(name, data)
	var te *topology.Error
	if !errors.As(err, &te) {
		return nil
	}
	var out []string
	for _, p := range te.Problems {
		if p.Path == path {
			out = append(out, p.Msg)
		}
	}
	return out
}

// TestEnumsAgreeWithValidator: each value of each enum in the hint table (in
// both spellings where netlab takes any case) is accepted by the validator
// in at least one place of testdata/enums.yaml, and a word outside the enum
// is refused in every place.
func TestEnumsAgreeWithValidator(t *testing.T) {
	s, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/enums.yaml")
	if err != nil {
		t.Fatal(err)
	}
	found := enumSites(s, parseJSON(t, data))
	for _, name := range slices.Sorted(maps.Keys(hints())) {
		for _, key := range slices.Sorted(maps.Keys(hints()[name].Keys)) {
			kh := hints()[name].Keys[key]
			if len(kh.Enum) == 0 {
				continue
			}
			id := name + "." + key
			paths := found[id]
			if len(paths) == 0 {
				t.Errorf("%s: no place in testdata/enums.yaml; add one", id)
				continue
			}
			try := func(val any, path string) []string {
				doc := parseJSON(t, data)
				if err := set(doc, path, val); err != nil {
					t.Fatal(err)
				}
				out, err := yaml.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				return problemsAt(id, out, path)
			}
			for _, val := range caseForms(kh.Enum, kh.AnyCase) {
				var refusals []string
				for _, path := range paths {
					probs := try(val, path)
					if len(probs) == 0 {
						refusals = nil
						break
					}
					refusals = append(refusals, path+": "+strings.Join(probs, "; "))
				}
				if refusals != nil {
					t.Errorf("%s: the schema allows %v, the validator refuses it everywhere: %v", id, val, refusals)
				}
			}
			for _, path := range paths {
				if probs := try("zz-bogus", path); len(probs) == 0 {
					t.Errorf("%s: the validator accepts zz-bogus at %s; the schema refuses it", id, path)
				}
			}
		}
	}
}

// TestValueTypesAgreeWithTopology: the schema's value types and topology's
// own checks agree on samples; where the schema is looser (it cannot count
// bytes or ranges), the sample says so. The schema is never stricter.
func TestValueTypesAgreeWithTopology(t *testing.T) {
	c := newChecker(t)
	noErr := func(err error) bool { return err == nil }
	for _, tc := range []struct {
		def     string
		netlab  func(string) bool
		samples []string
		looser  []string // the schema accepts, netlab refuses
	}{
		{defLabName, func(s string) bool { return noErr(topology.CheckLabName(s)) },
			[]string{"switch", "a", "0lab", "lab-1", strings.Repeat("a", 32), "-lab", "Lab", "lab_1", "watch", "use", strings.Repeat("a", 33), ""}, nil},
		{defNodeName, func(s string) bool { return noErr(topology.CheckNodeName(s)) },
			[]string{"h1", "r_1", "0", "h-1", "H1", "", strings.Repeat("n", 32), strings.Repeat("n", 33)}, nil},
		{defIfName, func(s string) bool { return noErr(topology.CheckIfName(s)) },
			[]string{"eth0", "eth0.1", "lo", "br-lan", "a", "x..y", "", "eth0:1", "a/b", "a b", "a\tb", ".", "..", "all", "default",
				strings.Repeat("e", 15), strings.Repeat("e", 16), "éééééééé"}, []string{"éééééééé"}},
		{defDuration, func(s string) bool { _, err := topology.ParseDuration(s); return err == nil },
			[]string{"0", "300ms", "5s", "1h30m", "1.5s", ".5s", "2m", "10us", "10µs", "1h2m3s4ms", "+5s", "-1s", "5", "5 s", "1d", "s", "", "1.s"}, nil},
		{defSysctlKey, func(s string) bool { _, err := topology.ParseSysctlKey(s); return err == nil },
			[]string{"net.ipv4.ip_forward", "net.ipv4.conf.eth0/1.rp_filter", "net.core.somaxconn", "net.ipv4.neigh.default.gc_thresh1",
				"kernel.pid_max", "net", "net..ipv4", "net.ipv4.*", "net.ipv4.conf.all. rp_filter", "net/ipv4/ip_forward", ".net.x", "net.ipv4.conf.a.b.c.rp_filter"},
			[]string{"net.ipv4.conf.a.b.c.rp_filter"}},
		{defMAC, func(s string) bool { m, err := net.ParseMAC(s); return err == nil && len(m) == 6 },
			[]string{"02:00:00:00:00:01", "02-00-00-00-00-01", "0200.0000.0001", "0A:bc:00:00:00:01", "02:00:00:00:00", "02:00:00:00:00:01:02:03",
				"zz:00:00:00:00:01", "02:00-00:00:00:01", "020000000001"}, nil},
		{defRate, func(s string) bool { _, err := topology.ParseRate(s); return err == nil },
			[]string{"20mbit", "500kbit", "1.5gbit", "125kbps", "10Mbit", "8bit", "20", "mbit", "20 mbit", "1bit"}, []string{"1bit"}},
		{defAddrPrefix, func(s string) bool { _, err := netip.ParsePrefix(s); return err == nil },
			[]string{"192.0.2.1/24", "2001:db8::1/64", "::1/128", "192.0.2.1", "x/24", "999.1.1.1/24", "192.0.2.1/33"},
			[]string{"999.1.1.1/24", "192.0.2.1/33"}},
		{defAddress, func(s string) bool { _, err := netip.ParseAddr(s); return err == nil },
			[]string{"192.0.2.1", "2001:db8::1", "fe80::1%eth0", "::", "192.0.2.1/24", "host", "1.2.3"}, []string{"1.2.3"}},
	} {
		sch := c.schema(t, tc.def)
		for _, v := range tc.samples {
			want := tc.netlab(v)
			got := sch.Validate(v) == nil
			looser := !want && got && slices.Contains(tc.looser, v)
			if got != want && !looser {
				t.Errorf("%s %q: schema accepts: %v, netlab accepts: %v", tc.def, v, got, want)
			}
			if slices.Contains(tc.looser, v) && !looser {
				t.Errorf("%s %q: listed as looser, but schema accepts: %v, netlab accepts: %v", tc.def, v, got, want)
			}
		}
	}
	// A YAML number is a duration only as a bare 0.
	dur := c.schema(t, defDuration)
	for v, want := range map[any]bool{0: true, 5: false, 0.5: false} {
		if got := dur.Validate(v) == nil; got != want {
			t.Errorf("Duration %v: schema accepts: %v, want %v", v, got, want)
		}
	}
}

// TestScenarioDefaults: the defaults documented for scenario steps are the
// ones netlab run uses.
func TestScenarioDefaults(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want time.Duration
	}{
		{defaultPingInterval, scenario.DefaultPingInterval},
		{defaultPingTimeout, scenario.DefaultPingTimeout},
		{defaultArpTimeout, scenario.DefaultArpTimeout},
		{defaultWaitTimeout, scenario.DefaultWaitTimeout},
	} {
		if got, err := topology.ParseDuration(tc.doc); err != nil || got != tc.want {
			t.Errorf("documented default %s (%v), netlab run uses %v", tc.doc, err, tc.want)
		}
	}
}

// TestHintsComplete: a key without a hint, or a hint without its key, fails
// the generation (and so the golden test) with a message naming it.
func TestHintsComplete(t *testing.T) {
	table := hints()
	delete(table["Interface"].Keys, "mtu")
	table["Link"].Keys["colour"] = keyHint{Doc: "no such key"}
	table["Nowhere"] = typeHint{Doc: "no such type"}
	_, err := build(table)
	for _, want := range []string{"type Interface: key mtu: no hint", "type Link: hint for key colour", "hint for type Nowhere"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("build with a broken table: want %q in the error, got %v", want, err)
		}
	}
	if _, err := build(hints()); err != nil {
		t.Errorf("the hint table: %v", err)
	}
}
