package neighctl

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Timeline file formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// FormatFor picks a timeline file format from a file name: CSV for
// ".csv", JSONL otherwise.
func FormatFor(path string) string {
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return FormatCSV
	}
	return FormatJSONL
}

// CSVHeader names the CSV columns; they match the JSONL field names.
var CSVHeader = []string{"t_ms", "t_us", "time", "kind", "node", "dev", "ip", "old", "new", "lladdr", "old_lladdr", "source", "end_t_ms", "reason"}

// Recorder writes timeline records to a file as they come, flushing each
// one, so an interrupted watch loses nothing it reported.
type Recorder struct {
	w      *bufio.Writer
	csv    *csv.Writer
	format string
	n      int
}

// NewRecorder writes records to w in format (FormatJSONL or FormatCSV).
func NewRecorder(w io.Writer, format string) (*Recorder, error) {
	r := &Recorder{w: bufio.NewWriter(w), format: format}
	switch format {
	case FormatJSONL:
	case FormatCSV:
		r.csv = csv.NewWriter(r.w)
		if err := r.csv.Write(CSVHeader); err != nil {
			return nil, err
		}
		r.csv.Flush()
		if err := r.flush(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("timeline format %q: want jsonl or csv", format)
	}
	return r, nil
}

// Write appends one record and flushes it.
func (r *Recorder) Write(rec Record) error {
	switch r.format {
	case FormatCSV:
		old, st := "", ""
		if rec.Kind == KindTransition {
			old, st = rec.Old.String(), rec.New.String()
		}
		ip := ""
		if rec.IP.IsValid() {
			ip = rec.IP.String()
		}
		end := ""
		if rec.Kind == KindGap {
			end = strconv.FormatInt(rec.EndTMS, 10)
		}
		if err := r.csv.Write([]string{strconv.FormatInt(rec.TMS, 10), strconv.FormatInt(rec.TUS, 10),
			rec.Time.Format(time.RFC3339Nano), rec.Kind, rec.Node, rec.Dev, ip, old, st, rec.LLAddr,
			rec.OldLLAddr, string(rec.Source), end, rec.Reason}); err != nil {
			return err
		}
		r.csv.Flush()
		if err := r.csv.Error(); err != nil {
			return err
		}
	default:
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := r.w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	r.n++
	return r.flush()
}

func (r *Recorder) flush() error { return r.w.Flush() }

// Count is the number of records written.
func (r *Recorder) Count() int { return r.n }

// ReadJSONL reads a timeline written in JSONL.
func ReadJSONL(rd io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, fmt.Errorf("timeline line %d: %w", line, err)
		}
		r.At = r.Time
		out = append(out, r)
	}
	return out, sc.Err()
}
