package topology

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a lab file (1-based line and column).
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"column"`
}

// Problem is one finding about a lab file: where, which object, what.
type Problem struct {
	File string `json:"file,omitempty"`
	Pos
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
}

func (p *Problem) String() string {
	var b strings.Builder
	file := p.File
	if file == "" {
		file = "<lab>"
	}
	b.WriteString(file)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem found in a lab file, reported at once. It is the
// error type of Parse and Validate.
type Error struct {
	Problems []*Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// collector gathers problems and warnings with positions looked up by path.
type collector struct {
	file     string
	pos      map[string]Pos
	problems []*Problem
	warnings []*Problem
}

func (c *collector) at(path string) Pos {
	// Walk up the path until a recorded position is found.
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := c.pos[p]; ok {
			return pos
		}
	}
	return Pos{}
}

func (c *collector) errf(path, format string, args ...any) {
	c.problems = append(c.problems, &Problem{File: c.file, Pos: c.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) warnf(path, format string, args ...any) {
	c.warnings = append(c.warnings, &Problem{File: c.file, Pos: c.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	sortProblems(c.problems)
	return &Error{Problems: c.problems}
}

func sortProblems(ps []*Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
}

// parentPath strips the last element of a path: "a.b[2]" -> "a.b", "a.b" -> "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// ProblemAt builds a Problem about path in this lab, with its file position
// (for checks made outside this package, such as kernel preflight).
func (l *Lab) ProblemAt(path, format string, args ...any) *Problem {
	c := &collector{file: l.File, pos: l.pos}
	return &Problem{File: l.File, Pos: c.at(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}
