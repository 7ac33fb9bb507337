package scenario

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/netlabdev/netlab/neighctl"
)

// Output file names in the run's directory.
const (
	ReportFile       = "report.json"
	JUnitFile        = "junit.xml"
	TimelineJSONFile = "timeline.jsonl"
	TimelineCSVFile  = "timeline.csv"
)

// timelineFiles writes the run's timeline as JSONL and CSV as it comes.
type timelineFiles struct {
	files []*os.File
	recs  []*neighctl.Recorder
}

func openTimeline(dir string) (*timelineFiles, error) {
	t := &timelineFiles{}
	for _, name := range []string{TimelineJSONFile, TimelineCSVFile} {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			_ = t.close()
			return nil, fmt.Errorf("timeline: %w", err)
		}
		t.files = append(t.files, f)
		rec, err := neighctl.NewRecorder(f, neighctl.FormatFor(p))
		if err != nil {
			_ = t.close()
			return nil, fmt.Errorf("timeline %s: %w", p, err)
		}
		t.recs = append(t.recs, rec)
	}
	return t, nil
}

func (t *timelineFiles) write(r neighctl.Record) error {
	var err error
	for _, rec := range t.recs {
		err = errors.Join(err, rec.Write(r))
	}
	return err
}

func (t *timelineFiles) close() error {
	var err error
	for _, f := range t.files {
		err = errors.Join(err, f.Close())
	}
	t.files = nil
	return err
}

// WriteFiles writes report.json and junit.xml into dir.
func (rep *Report) WriteFiles(dir string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, ReportFile), append(b, '\n')); err != nil {
		return err
	}
	x, err := rep.JUnit()
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, JUnitFile), x)
}

func writeFile(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// JUnit XML (the shape of the common JUnit XSD: testsuite with tests,
// failures, errors, skipped and time; testcase with name, classname and
// time; failure and error with a message attribute and the details as text).
type junitSuite struct {
	XMLName   xml.Name    `xml:"testsuite"`
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Hostname  string      `xml:"hostname,attr,omitempty"`
	Props     *junitProps `xml:"properties,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func secs(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }

// JUnit renders the report as a JUnit XML document: one testsuite (the lab),
// one testcase per step.
func (rep *Report) JUnit() ([]byte, error) {
	s := junitSuite{Name: rep.Lab, Tests: rep.Tests, Failures: rep.Failures, Errors: rep.Errors, Skipped: rep.Skipped,
		Time: secs(rep.DurationMS), Cases: []junitCase{}}
	if !rep.Started.IsZero() {
		s.Timestamp = rep.Started.UTC().Format("2006-01-02T15:04:05")
	}
	s.Hostname, _ = os.Hostname()
	s.Props = &junitProps{Props: []junitProp{{"kernel", rep.Kernel}, {"run_id", rep.RunID}, {"file", rep.File}}}
	for _, st := range rep.Steps {
		c := junitCase{Name: fmt.Sprintf("%02d %s", st.Index, st.Name), Classname: rep.Lab + "." + st.Kind, Time: secs(st.DurationMS), SystemOut: st.Output}
		detail := st.Message
		if len(st.Timeline) > 0 {
			detail += "\ntimeline:\n  " + strings.Join(st.Timeline, "\n  ")
		}
		switch st.Verdict {
		case Fail:
			c.Failure = &junitProblem{Message: st.Message, Type: "expectation", Text: detail}
		case Error:
			c.Error = &junitProblem{Message: st.Message, Type: "error", Text: detail}
		case Skipped:
			c.Skipped = &junitSkipped{Message: st.Message}
		}
		s.Cases = append(s.Cases, c)
	}
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}
