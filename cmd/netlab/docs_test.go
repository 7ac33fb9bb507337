package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The tutorial and the docs index are prose around real commands. These
// tests keep them honest without root: every netlab command line in the
// tutorial's shell blocks must parse against today's command tree (known
// subcommand, known flags with valid values, an argument count the command
// accepts, the verbs of neigh and route with the flags each verb takes), the
// pure commands it shows (validate, graph) must still print what it shows,
// and every file it names (labs/*.yaml, images, links) must exist.

// docsPages are the pages checked for links and file references, relative
// to the repository root.
var docsPages = []string{"docs/README.md", "docs/tutorial-arp-aging.md"}

const tutorialPage = "docs/tutorial-arp-aging.md"

// repoRoot is the repository root seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// shellCmd is one command line of a shell code block, split into words.
type shellCmd struct {
	line  int    // 1-based line in the page
	text  string // the line as written (after the prompt)
	words []string
}

// fence is one fenced code block of a Markdown page.
type fence struct {
	info  string // the info string: sh, console, mermaid, ...
	start int    // 1-based line of the first content line
	lines []string
}

// fences returns the page's fenced code blocks, their lines without the
// indentation of the fence (a block inside a list item is indented).
func fences(page string) []fence {
	var out []fence
	var cur *fence
	indent := ""
	for i, l := range strings.Split(page, "\n") {
		t := strings.TrimSpace(l)
		if cur == nil {
			if rest, ok := strings.CutPrefix(t, "```"); ok {
				cur = &fence{info: strings.TrimSpace(rest), start: i + 2}
				indent = l[:len(l)-len(strings.TrimLeft(l, " "))]
			}
			continue
		}
		if t == "```" {
			out = append(out, *cur)
			cur = nil
			continue
		}
		cur.lines = append(cur.lines, strings.TrimPrefix(l, indent))
	}
	return out
}

// shellBlock reports whether a fence holds shell: in sh/bash/shell blocks
// every line is a command; in console blocks the lines after a "# " (root)
// or "$ " prompt are, everything else is output.
func shellBlock(info string) (isShell, prompted bool) {
	switch info {
	case "sh", "bash", "shell":
		return true, false
	case "console", "shell-session":
		return true, true
	}
	return false, false
}

// commandLines returns every command line of the page's shell blocks.
func commandLines(t *testing.T, page string) []shellCmd {
	t.Helper()
	var out []shellCmd
	for _, f := range fences(page) {
		isShell, prompted := shellBlock(f.info)
		if !isShell {
			continue
		}
		for i, l := range f.lines {
			text := strings.TrimSpace(l)
			if prompted {
				var ok bool
				if text, ok = cutPrompt(l); !ok {
					continue
				}
			} else if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			words, err := shellWords(text)
			if err != nil {
				t.Errorf("%s:%d: %q: %v", tutorialPage, f.start+i, text, err)
				continue
			}
			out = append(out, shellCmd{line: f.start + i, text: text, words: words})
		}
	}
	return out
}

func cutPrompt(l string) (string, bool) {
	for _, p := range []string{"# ", "$ "} {
		if rest, ok := strings.CutPrefix(l, p); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// shellWords splits a command line as a POSIX shell would for our purpose:
// quotes and backslashes, a trailing comment, and the operators | || && ;
// & kept as words of their own. It expands nothing.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return words, nil
		case c == '|' || c == ';' || (c == '&' && !(inWord && strings.HasSuffix(w.String(), ">"))):
			flush()
			op := string(c)
			if i+1 < len(s) && (s[i+1] == c) && c != ';' {
				op += string(c)
				i++
			}
			words = append(words, op)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, nil
}

var (
	redirect  = regexp.MustCompile(`^[0-9]*(>>?|<|>&|&>)`)
	envAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
)

// netlabArgs returns the arguments of every netlab invocation on a command
// line (a pipeline or list may hold several), without redirections,
// leading VAR=value words and sudo.
func netlabArgs(words []string) [][]string {
	var out [][]string
	var segs [][]string
	cur := []string{}
	for _, w := range words {
		switch w {
		case "|", "||", "&&", ";", "&":
			segs = append(segs, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, w)
	}
	segs = append(segs, cur)
	for _, seg := range segs {
		var args []string
		skipNext := false
		for _, w := range seg {
			switch {
			case skipNext:
				skipNext = false
			case redirect.MatchString(w):
				// "> file" takes the next word; ">file" and "2>&1" do not.
				skipNext = redirect.FindString(w) == w
			default:
				args = append(args, w)
			}
		}
		for len(args) > 0 && (args[0] == "sudo" || envAssign.MatchString(args[0])) {
			args = args[1:]
		}
		if len(args) > 0 && (args[0] == "netlab" || strings.HasSuffix(args[0], "/netlab")) {
			out = append(out, args[1:])
		}
	}
	return out
}

// The verbs of neigh and route, with the arguments and flags each takes
// (the commands check them at run time, after flag parsing).
var neighVerbArgs = map[string]struct {
	min, max int
	flags    []string
}{
	"add":    {1, 1, []string{"dev", "lladdr", "state", "router", "proxy", "managed"}},
	"set":    {1, 1, []string{"dev", "lladdr", "state", "router", "proxy", "managed"}},
	"del":    {1, 1, []string{"dev", "proxy"}},
	"use":    {1, 1, []string{"dev"}},
	"flush":  {0, 0, []string{"dev", "all"}},
	"params": {0, 1, nil},
}

// checkInvocation parses one netlab command line against a fresh command
// tree, as run() would, up to the point where the command would touch a
// lab: the subcommand, its flags and their values, the output format, the
// argument count, and the verbs of neigh and route.
func checkInvocation(args []string) error {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	root := a.rootCmd()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return fmt.Errorf("unknown command %q", rest[0])
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	pos := cmd.Flags().Args()
	if err := cmd.ValidateArgs(pos); err != nil {
		return err
	}
	for c := cmd; c != nil; c = c.Parent() {
		if c.PersistentPreRunE != nil {
			if err := c.PersistentPreRunE(cmd, pos); err != nil {
				return err
			}
			break
		}
	}
	switch cmd.Name() {
	case "neigh":
		return checkNeigh(cmd, pos)
	case "route":
		return checkRoute(cmd, pos)
	}
	return nil
}

func checkNeigh(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("neigh needs a lab")
	case args[0] == "watch":
		if len(args) < 2 {
			return errors.New("neigh watch needs a lab")
		}
		return onlyFlags(cmd, "watch", "duration", "interval", "max-interval", "record", "multicast")
	case len(args) <= 2:
		return onlyFlags(cmd, "list", "dev", "multicast")
	}
	verb, rest := args[2], args[3:]
	v, ok := neighVerbArgs[verb]
	if !ok {
		return fmt.Errorf("neigh: unknown verb %q", verb)
	}
	if len(rest) < v.min || len(rest) > v.max {
		return fmt.Errorf("neigh %s takes %d to %d arguments, got %d", verb, v.min, v.max, len(rest))
	}
	return onlyFlags(cmd, verb, v.flags...)
}

func checkRoute(cmd *cobra.Command, args []string) error {
	getFlags := []string{"from", "iif", "oif", "mark"}
	switch {
	case len(args) == 0:
		return errors.New("route needs a lab")
	case len(args) <= 2:
		for _, f := range getFlags {
			if cmd.Flags().Changed(f) {
				return fmt.Errorf("route list does not take --%s", f)
			}
		}
		return nil
	case args[2] != "get":
		return fmt.Errorf("route: unknown verb %q", args[2])
	}
	_, err := parseQuery(args[3:], &routeFlags{
		from: flagValue(cmd, "from"), iif: flagValue(cmd, "iif"),
		oif: flagValue(cmd, "oif"), mark: flagValue(cmd, "mark"),
	})
	return err
}

func flagValue(cmd *cobra.Command, name string) string {
	if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
		return f.Value.String()
	}
	return ""
}

func readPage(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTutorialCommands: every netlab command line in the tutorial's shell
// blocks parses against the real command tree.
func TestTutorialCommands(t *testing.T) {
	page := readPage(t, tutorialPage)
	n := 0
	seen := map[string]bool{}
	for _, c := range commandLines(t, page) {
		for _, args := range netlabArgs(c.words) {
			n++
			if len(args) > 0 {
				seen[args[0]] = true
			}
			if err := checkInvocation(args); err != nil {
				t.Errorf("%s:%d: %s\n\t%v", tutorialPage, c.line, c.text, err)
			}
		}
	}
	// The tutorial walks through these; finding fewer means the extractor
	// (or the page) broke, not that everything parsed.
	for _, sub := range []string{"validate", "graph", "up", "status", "neigh", "ping", "run", "down"} {
		if !seen[sub] {
			t.Errorf("%s: no netlab %s command found in its shell blocks", tutorialPage, sub)
		}
	}
	t.Logf("%d netlab command lines checked", n)
	if n < 20 {
		t.Errorf("%s: only %d netlab command lines found", tutorialPage, n)
	}
}

// TestCheckInvocation: the checker itself refuses what netlab refuses.
func TestCheckInvocation(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{"netlab up labs/arp-aging.yaml --suffix docs", true},
		{"netlab up labs/arp-aging.yaml --sufix docs", false},
		{"netlab up", false},
		{"netlab upp labs/arp-aging.yaml", false},
		{"netlab up labs/arp-aging.yaml --wait soon", false},
		{"netlab neigh watch arp-aging-docs -o jsonl --record watch.csv &", true},
		{"netlab neigh arp-aging-docs h1 -o jsonl", true}, // run time refuses jsonl for list; parsing accepts it
		{"netlab status -o jsonl", false},
		{"netlab neigh arp-aging-docs h1 params eth0", true},
		{"netlab neigh arp-aging-docs h1 params eth0 eth1", false},
		{"netlab neigh arp-aging-docs h1 params --dev eth0", false},
		{"netlab neigh arp-aging-docs h1 frob", false},
		{"netlab neigh watch arp-aging-docs --lladdr 02:00:00:00:00:01", false},
		{"netlab neigh arp-aging-docs h1 use 192.0.2.2 --dev eth0", true},
		{"netlab route arp-aging-docs h1 get 192.0.2.2 --from 192.0.2.1", true},
		{"netlab route arp-aging-docs h1 get nowhere", false},
		{"netlab route arp-aging-docs h1 --from 192.0.2.1", false},
		{"netlab graph labs/arp-aging.yaml -o mermaid", true},
		{"netlab graph labs/arp-aging.yaml -o png", false},
		{"netlab run labs/arp-aging.yaml --out out/ --repeat 20 2>&1 | tail -n 4", true},
		{"netlab run labs/arp-aging.yaml --repeat twenty", false},
		{"netlab exec arp-aging-docs h1 -- ip neigh", true},
		{"netlab ping arp-aging-docs h1 192.0.2.2 -c 1", true},
		{"netlab ping arp-aging-docs h1 -c 1", false},
		{"netlab --version", true},
	} {
		words, err := shellWords(tc.line)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		inv := netlabArgs(words)
		if len(inv) != 1 {
			t.Errorf("%q: %d netlab invocations found, want 1", tc.line, len(inv))
			continue
		}
		err = checkInvocation(inv[0])
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.line, err, tc.ok)
		}
	}
}

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`netlab up x --suffix docs   # comment`, []string{"netlab", "up", "x", "--suffix", "docs"}},
		{`a 'b c' "d \"e\"" f\ g`, []string{"a", "b c", `d "e"`, "f g"}},
		{`a 2>&1 | b && c; d &`, []string{"a", "2>&1", "|", "b", "&&", "c", ";", "d", "&"}},
		{`a x#y`, []string{"a", "x#y"}},
	} {
		got, err := shellWords(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	got := netlabArgs([]string{"NETLAB_SUFFIX=x", "bin/netlab", "status", ">", "f", "2>&1", "|", "netlab", "down", "y"})
	if want := [][]string{{"status"}, {"down", "y"}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("netlabArgs = %q, want %q", got, want)
	}
}

// TestTutorialOutputs: what the tutorial shows for the commands that need
// no kernel (validate, graph) is what they print today.
func TestTutorialOutputs(t *testing.T) {
	page := readPage(t, tutorialPage)
	t.Chdir(repoRoot) // the tutorial runs from the repository root
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NETLAB_") {
			t.Setenv(k, "")
		}
	}
	fs := fences(page)
	checked := 0
	for i, f := range fs {
		if isShell, prompted := shellBlock(f.info); !isShell || !prompted {
			continue
		}
		for j, l := range f.lines {
			text, ok := cutPrompt(l)
			if !ok {
				continue
			}
			words, err := shellWords(text)
			if err != nil {
				continue // reported by TestTutorialCommands
			}
			inv := netlabArgs(words)
			if len(inv) != 1 || len(inv[0]) == 0 || slices.Contains(words, "|") {
				continue
			}
			args := inv[0]
			var shown string
			switch {
			case args[0] == "validate":
				var out []string
				for _, o := range f.lines[j+1:] {
					if _, ok := cutPrompt(o); ok {
						break
					}
					out = append(out, o)
				}
				shown = strings.Join(out, "\n")
			case args[0] == "graph" && slices.Contains(args, "mermaid"):
				// Shown as the next mermaid block, so that it renders.
				k := slices.IndexFunc(fs[i+1:], func(f fence) bool { return f.info == "mermaid" })
				if k < 0 {
					t.Errorf("%s:%d: %s: no mermaid block follows", tutorialPage, f.start+j, text)
					continue
				}
				shown = strings.Join(fs[i+1+k].lines, "\n")
			default:
				continue
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Errorf("%s:%d: %s: exit %d: %s", tutorialPage, f.start+j, text, code, stderr.String())
				continue
			}
			got := strings.TrimRight(stdout.String()+stderr.String(), "\n")
			if strings.TrimRight(shown, "\n") != got {
				t.Errorf("%s:%d: %s: the page shows\n%s\nbut it prints\n%s", tutorialPage, f.start+j, text, shown, got)
			}
			checked++
		}
	}
	if checked < 3 {
		t.Errorf("%s: only %d validate/graph outputs checked, want at least 3", tutorialPage, checked)
	}
}

// TestDocsLinks: every relative link and image of the docs pages, and
// every labs/*.yaml and docs/img file they name in the text, exists.
func TestDocsLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	named := regexp.MustCompile(`\b(?:labs/[a-z0-9-]+\.ya?ml|docs/img/[A-Za-z0-9._-]+)`)
	for _, rel := range docsPages {
		page := readPage(t, rel)
		dir := filepath.Dir(rel)
		n := 0
		for _, m := range link.FindAllStringSubmatch(page, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			n++
			if _, err := os.Stat(filepath.Join(repoRoot, dir, filepath.FromSlash(target))); err != nil {
				t.Errorf("%s: link %s: %v", rel, m[1], err)
			}
		}
		for _, m := range named.FindAllString(page, -1) {
			n++
			if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(m))); err != nil {
				t.Errorf("%s: names %s: %v", rel, m, err)
			}
		}
		if n == 0 {
			t.Errorf("%s: no links or file names found", rel)
		}
	}
}

func TestFences(t *testing.T) {
	page := "text\n```sh\nnetlab validate x\n```\n- item:\n\n  ```console\n  # netlab up x\n  out\n  ```\n"
	fs := fences(page)
	if len(fs) != 2 {
		t.Fatalf("%d fences, want 2: %+v", len(fs), fs)
	}
	if fs[0].info != "sh" || fs[0].start != 3 || !slices.Equal(fs[0].lines, []string{"netlab validate x"}) {
		t.Errorf("first fence: %+v", fs[0])
	}
	if fs[1].info != "console" || fs[1].start != 8 || !slices.Equal(fs[1].lines, []string{"# netlab up x", "out"}) {
		t.Errorf("indented fence: %+v", fs[1])
	}
	var cmds []string
	for _, c := range commandLines(t, page) {
		cmds = append(cmds, c.text)
	}
	if want := []string{"netlab validate x", "netlab up x"}; !slices.Equal(cmds, want) {
		t.Errorf("command lines %q, want %q", cmds, want)
	}
}
