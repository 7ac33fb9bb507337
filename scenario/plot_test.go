package scenario

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netlabdev/netlab/neighctl"
)

func TestBands(t *testing.T) {
	tl := []neighctl.Record{
		tr(5, "h1", "192.0.2.2", neighctl.Absent, neighctl.Reachable, neighctl.SourceEvent),
		tr(4005, "h1", "192.0.2.2", neighctl.Reachable, neighctl.Stale, neighctl.SourceEvent),
		tr(6000, "h2", "192.0.2.1", neighctl.Absent, neighctl.Stale, neighctl.SourceEvent),
		tr(7000, "h2", "192.0.2.1", neighctl.Stale, neighctl.Absent, neighctl.SourceEvent),
		{Kind: neighctl.KindGap, TMS: 7100, Node: "h1", EndTMS: 7200},
	}
	names, bs := bands(tl, 10000)
	if strings.Join(names, ",") != "h1 eth0 192.0.2.2,h2 eth0 192.0.2.1" {
		t.Errorf("rows: %v", names)
	}
	want := map[band]bool{
		{row: 0, from: 0.005, to: 4.005, state: neighctl.Reachable}: true,
		{row: 0, from: 4.005, to: 10, state: neighctl.Stale}:        true,
		{row: 1, from: 6, to: 7, state: neighctl.Stale}:             true,
	}
	if len(bs) != len(want) {
		t.Fatalf("bands: %+v", bs)
	}
	for _, b := range bs {
		if !want[b] {
			t.Errorf("unexpected band %+v", b)
		}
	}
}

// TestPlotTimeline: the SVG is well-formed and names every entry.
func TestPlotTimeline(t *testing.T) {
	p := filepath.Join(t.TempDir(), TimelinePlotFile)
	tl := []neighctl.Record{
		tr(5, "h1", "192.0.2.2", neighctl.Absent, neighctl.Reachable, neighctl.SourceEvent),
		tr(4005, "h1", "192.0.2.2", neighctl.Reachable, neighctl.Stale, neighctl.SourceEvent),
	}
	if err := PlotTimeline(p, "lab x", tl, 6000); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(string(b)))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v", err)
		}
	}
	for _, want := range []string{"<svg", "REACHABLE", "STALE"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// Histogram too.
	if err := PlotHistogram(filepath.Join(t.TempDir(), "h.svg"), Summary{Entry: EntryKey{Node: "h1"}, Interval: IntervalReachable, Count: 3, Samples: []int64{2100, 3000, 5900}, WindowMinMS: 2000, WindowMaxMS: 6000}); err != nil {
		t.Fatal(err)
	}
}
