package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Load reads, parses and validates a lab file. Warnings are returned even
// when err is nil.
func Load(path string, opts ValidateOptions) (*Lab, []*Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read lab file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read lab file %s: %w", path, err)
	}
	l, err := Parse(path, data)
	if err != nil {
		return nil, nil, err
	}
	warns, err := l.Validate(opts)
	return l, warns, err
}

// Parse decodes a lab file strictly: unknown keys, duplicate keys, wrong value
// kinds and YAML syntax errors are reported with file:line:col. It does not
// validate meaning; call Validate for that.
func Parse(file string, data []byte) (*Lab, error) {
	c := &collector{file: file, pos: map[string]Pos{}}
	// Whole-file problems point at 1:1 so that every error reads file:line:col.
	if len(data) > MaxFileBytes {
		c.problems = append(c.problems, &Problem{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf("file is larger than %d MiB", MaxFileBytes>>20)})
		return nil, c.err()
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			c.problems = append(c.problems, &Problem{File: file, Pos: Pos{1, 1}, Msg: "empty lab file"})
			return nil, c.err()
		}
		c.problems = append(c.problems, syntaxProblem(file, data, err))
		return nil, c.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		c.problems = append(c.problems, &Problem{File: file, Pos: Pos{extra.Line, extra.Column}, Msg: "more than one YAML document; a lab file holds one"})
		return nil, c.err()
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if p := checkExpansion(file, root); p != nil {
		c.problems = append(c.problems, p)
		return nil, c.err()
	}
	w := &walker{c: c}
	w.walk(root, reflect.TypeOf(Lab{}), "")
	if w.budgetHit {
		return nil, c.err()
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	var l Lab
	if err := root.Decode(&l); err != nil {
		c.problems = append(c.problems, yamlProblem(file, err))
		return nil, c.err()
	}
	l.File = file
	l.pos = c.pos
	return &l, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?::(\d+))?: `)

// yamlProblem turns a yaml library error into a Problem with a position.
func yamlProblem(file string, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	p := &Problem{File: file, Msg: msg}
	if m := yamlLineRE.FindStringSubmatchIndex(msg); m != nil {
		p.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		if m[4] >= 0 {
			p.Col, _ = strconv.Atoi(msg[m[4]:m[5]])
		}
		p.Msg = msg[:m[0]] + msg[m[1]:]
	}
	if p.Line == 0 {
		// The yaml library leaves out "line N" for its first line (and for
		// whole-document errors): still give every error a line.
		p.Line = 1
	}
	return p
}

// yamlParserErrors are the problems the yaml library's parser (as opposed to
// its scanner) reports: it gives their line 0-based, and leaves it out when it
// is 0.
var yamlParserErrors = []string{
	"did not find expected key", "did not find expected node content",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected <stream-start>", "found duplicate %TAG directive",
	"found duplicate %YAML directive", "found incompatible YAML document",
	"found undefined tag handle",
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// syntaxProblem is yamlProblem for errors of the first pass (YAML syntax),
// with the library's line numbering made 1-based throughout and positions the
// library does not give (invalid UTF-8, an unknown anchor) found in data.
func syntaxProblem(file string, data []byte, err error) *Problem {
	hadLine := yamlLineRE.MatchString(err.Error())
	p := yamlProblem(file, err)
	for _, pe := range yamlParserErrors {
		if hadLine && strings.HasPrefix(p.Msg, pe) {
			p.Line++
			break
		}
	}
	// An error at the end of the stream may name the line after the last.
	lines := bytes.Count(data, []byte("\n"))
	if !bytes.HasSuffix(data, []byte("\n")) {
		lines++
	}
	p.Line = min(p.Line, max(lines, 1))
	if !utf8.Valid(data) && !bytes.HasPrefix(data, []byte{0xff, 0xfe}) && !bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		p.Pos = offsetPos(data, i)
		p.Msg = fmt.Sprintf("invalid UTF-8 (byte 0x%02x); a lab file is UTF-8 text", data[i])
	} else if m := unknownAnchorRE.FindStringSubmatch(p.Msg); m != nil {
		// An alias cannot come before its anchor, so the first "*name"
		// that is not part of a longer name is the one.
		re := regexp.MustCompile(`\*` + regexp.QuoteMeta(m[1]) + `($|[\s,\]}])`)
		if loc := re.FindIndex(data); loc != nil {
			p.Pos = offsetPos(data, loc[0])
		}
	}
	return p
}

// offsetPos is the line and column (in bytes, 1-based) of a byte offset.
func offsetPos(data []byte, off int) Pos {
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return Pos{line, off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1}
}

// expansion counts the YAML nodes a full alias expansion visits, memoised on
// anchored nodes so that counting is linear in the file, saturating at
// maxYAMLNodes+1 (an alias inside its own anchor counts as that too).
type expansion struct {
	memo    map[*yaml.Node]int // anchored node -> expanded size; -1 while counting it
	literal int                // nodes as written (each counted once)
	worst   *yaml.Node         // the alias with the largest expansion
	worstN  int
}

const expansionCap = maxYAMLNodes + 1

func (e *expansion) size(n *yaml.Node) int {
	if n.Anchor != "" {
		if s, ok := e.memo[n]; ok {
			if s < 0 {
				return expansionCap
			}
			return s
		}
		e.memo[n] = -1
	}
	e.literal++
	s := 1
	if n.Kind == yaml.AliasNode {
		if n.Alias != nil {
			s = min(s+e.size(n.Alias), expansionCap)
		}
		if s > e.worstN {
			e.worst, e.worstN = n, s
		}
	}
	for _, c := range n.Content {
		s = min(s+e.size(c), expansionCap)
	}
	if n.Anchor != "" {
		e.memo[n] = s
	}
	return s
}

// checkExpansion refuses alias bombs (billion laughs) before anything walks or
// decodes the expanded tree: more than maxYAMLNodes nodes in all, or more
// alias-driven nodes than the yaml decoder itself allows (its ratio rule),
// which it would otherwise report only after doing the work, and without a
// position.
func checkExpansion(file string, root *yaml.Node) *Problem {
	e := &expansion{memo: map[*yaml.Node]int{}}
	total := e.size(root)
	aliased := total - e.literal
	if total <= maxYAMLNodes && !(aliased > 100 && total > 1000 && float64(aliased)/float64(total) > allowedAliasRatio(total)) {
		return nil
	}
	p := &Problem{File: file, Pos: Pos{1, 1}}
	if e.worst == nil {
		p.Msg = fmt.Sprintf("lab file has more than %d YAML nodes: refused", maxYAMLNodes)
		return p
	}
	p.Pos = Pos{e.worst.Line, e.worst.Column}
	if e.worstN >= expansionCap {
		p.Msg = fmt.Sprintf("alias *%s expands to more than %d YAML nodes (or into itself): refused", e.worst.Value, maxYAMLNodes)
	} else {
		into := strconv.Itoa(total)
		if total >= expansionCap {
			into = fmt.Sprintf("more than %d", maxYAMLNodes)
		}
		p.Msg = fmt.Sprintf("aliases expand the file's %d YAML nodes into %s (alias *%s alone into %d): too much alias expansion, refused", e.literal, into, e.worst.Value, e.worstN)
	}
	return p
}

// allowedAliasRatio is the yaml decoder's rule: up to 99% of a document's
// nodes may come from alias expansion up to 400,000 nodes, down to 10% at
// 4,000,000.
func allowedAliasRatio(n int) float64 {
	const lo, hi = 400_000, 4_000_000
	switch {
	case n <= lo:
		return 0.99
	case n >= hi:
		return 0.10
	}
	return 0.99 - 0.89*float64(n-lo)/float64(hi-lo)
}

// walker checks a YAML node tree against the Go types before decoding, so
// every unknown key or wrong kind is reported with its line and column, and
// records the position of every path for later validation errors.
type walker struct {
	c         *collector
	budget    int
	budgetHit bool
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.budgetHit {
		return
	}
	w.budget++
	if w.budget > maxYAMLNodes {
		w.budgetHit = true
		w.c.errf(path, "lab file expands to more than %d YAML nodes (alias expansion?): refused", maxYAMLNodes)
		return
	}
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value: the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if t == reflect.TypeOf(States{}) {
			if n.Kind != yaml.ScalarNode && n.Kind != yaml.SequenceNode {
				w.kindErr(n, path, "a state or a list of states")
				return
			}
			for i, it := range n.Content {
				for it.Kind == yaml.AliasNode && it.Alias != nil {
					it = it.Alias
				}
				if it.Kind != yaml.ScalarNode {
					w.kindErr(it, fmt.Sprintf("%s[%d]", path, i), "a state name")
				}
			}
			return
		}
		if n.Kind != yaml.ScalarNode {
			w.kindErr(n, path, "a scalar value")
			return
		}
		if t == reflect.TypeOf(Duration{}) {
			// Checked here, not only by Duration.UnmarshalYAML, so that every
			// bad duration is reported at once with its path and column.
			if _, err := ParseDuration(n.Value); err != nil {
				w.c.problems = append(w.c.problems, &Problem{File: w.c.file, Pos: Pos{n.Line, n.Column}, Path: path, Msg: err.Error()})
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.kindErr(n, path, "a mapping")
			return
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			if prev, dup := seen[k.Value]; dup {
				w.c.problems = append(w.c.problems, &Problem{File: w.c.file, Pos: Pos{k.Line, k.Column}, Path: kp,
					Msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, prev)})
				continue
			}
			seen[k.Value] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				w.c.problems = append(w.c.problems, &Problem{File: w.c.file, Pos: Pos{k.Line, k.Column}, Path: path,
					Msg: fmt.Sprintf("unknown key %q (known keys: %s)", k.Value, strings.Join(sortedKeys(fields), ", "))})
				continue
			}
			w.record(kp, k, v)
			w.walk(v, f.Type, kp)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.kindErr(n, path, "a mapping")
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			if k.Kind != yaml.ScalarNode {
				w.kindErr(k, path, "a scalar key")
				continue
			}
			if prev, dup := seen[k.Value]; dup {
				w.c.problems = append(w.c.problems, &Problem{File: w.c.file, Pos: Pos{k.Line, k.Column}, Path: kp,
					Msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, prev)})
				continue
			}
			seen[k.Value] = k.Line
			w.record(kp, k, v)
			w.walk(v, t.Elem(), kp)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.kindErr(n, path, "a list")
			return
		}
		for i, it := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			w.c.pos[ip] = Pos{it.Line, it.Column}
			w.walk(it, t.Elem(), ip)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.kindErr(n, path, "a string")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			w.kindErr(n, path, "true or false")
		}
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			w.kindErr(n, path, "a whole number")
			return
		}
		if t.Kind() == reflect.Uint32 {
			if _, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 32); err != nil {
				w.kindErr(n, path, "a whole number from 0 to 4294967295")
			}
		}
	}
}

func (w *walker) record(path string, k, v *yaml.Node) {
	if v.Kind == yaml.ScalarNode {
		w.c.pos[path] = Pos{v.Line, v.Column}
	} else {
		w.c.pos[path] = Pos{k.Line, k.Column}
	}
}

func (w *walker) kindErr(n *yaml.Node, path, want string) {
	got := kindName(n.Kind)
	if n.Kind == yaml.ScalarNode {
		got = fmt.Sprintf("%q", n.Value)
	}
	w.c.problems = append(w.c.problems, &Problem{File: w.c.file, Pos: Pos{n.Line, n.Column}, Path: path,
		Msg: fmt.Sprintf("want %s, got %s", want, got)})
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
