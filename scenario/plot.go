package scenario

import (
	"fmt"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/netlabdev/netlab/neighctl"
)

// TimelinePlotFile is the timeline plot's name in the output directory.
const TimelinePlotFile = "timeline.svg"

// stateColors colour the state bands.
var stateColors = map[neighctl.State]color.RGBA{
	neighctl.Reachable:  {R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	neighctl.Stale:      {R: 0xff, G: 0xbb, B: 0x33, A: 0xff},
	neighctl.Delay:      {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	neighctl.Probe:      {R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	neighctl.Incomplete: {R: 0xaa, G: 0xaa, B: 0xaa, A: 0xff},
	neighctl.Failed:     {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	neighctl.Permanent:  {R: 0x33, G: 0x33, B: 0x33, A: 0xff},
	neighctl.NoARP:      {R: 0x77, G: 0x77, B: 0x77, A: 0xff},
	neighctl.None:       {R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff},
}

var otherColor = color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}

// band is one state of one entry over [from, to) seconds.
type band struct {
	row      int
	from, to float64
	state    neighctl.State
}

// bands turns a timeline into per-entry state bands; endMS closes the
// states still in force when the run ended.
func bands(timeline []neighctl.Record, endMS int64) ([]string, []band) {
	type open struct {
		state neighctl.State
		at    int64
	}
	rows := map[EntryKey]int{}
	var names []string
	cur := map[EntryKey]open{}
	var out []band
	row := func(k EntryKey) int {
		if i, ok := rows[k]; ok {
			return i
		}
		rows[k] = len(names)
		names = append(names, k.String())
		return rows[k]
	}
	for _, r := range timeline {
		if r.Kind != neighctl.KindTransition {
			continue
		}
		k := EntryKey{Node: r.Node, Dev: r.Dev, IP: r.IP}
		i := row(k)
		if o, ok := cur[k]; ok && o.state != neighctl.Absent {
			out = append(out, band{row: i, from: float64(o.at) / 1000, to: float64(r.TMS) / 1000, state: o.state})
		}
		cur[k] = open{state: r.New, at: r.TMS}
	}
	for k, o := range cur {
		if o.state != neighctl.Absent && endMS > o.at {
			out = append(out, band{row: rows[k], from: float64(o.at) / 1000, to: float64(endMS) / 1000, state: o.state})
		}
	}
	return names, out
}

// PlotTimeline draws the timeline as an SVG (or PNG/PDF, by path's
// extension): one row per neighbour entry, coloured bands for its states
// over the run's time.
func PlotTimeline(path, title string, timeline []neighctl.Record, endMS int64) error {
	names, bs := bands(timeline, endMS)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time since the run began (s)"
	p.X.Min, p.X.Max = 0, max(float64(endMS)/1000, 1)
	p.Y.Min, p.Y.Max = -0.5, float64(max(len(names), 1))-0.5
	var ticks []plot.Tick
	for i, n := range names {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: n})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	used := map[neighctl.State]bool{}
	for _, b := range bs {
		c, ok := stateColors[b.state]
		if !ok {
			c = otherColor
		}
		y0, y1 := float64(b.row)-0.35, float64(b.row)+0.35
		poly, err := plotter.NewPolygon(plotter.XYs{{X: b.from, Y: y0}, {X: b.to, Y: y0}, {X: b.to, Y: y1}, {X: b.from, Y: y1}})
		if err != nil {
			return fmt.Errorf("timeline plot: %w", err)
		}
		poly.Color = c
		poly.LineStyle.Width = 0
		p.Add(poly)
		used[b.state] = true
	}
	var states []neighctl.State
	for s := range used {
		states = append(states, s)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].String() < states[j].String() })
	for _, s := range states {
		c, ok := stateColors[s]
		if !ok {
			c = otherColor
		}
		p.Legend.Add(s.String(), legendBox{c})
	}
	p.Legend.Top = true
	// Headroom above the rows for the legend.
	room := 0.3 * float64(len(states))
	p.Y.Max += room
	p.Add(plotter.NewGrid())
	h := vg.Length(1.6)*vg.Inch + vg.Length(float64(len(names))+room)*0.45*vg.Inch
	if err := p.Save(10*vg.Inch, h, path); err != nil {
		return fmt.Errorf("timeline plot %s: %w", path, err)
	}
	return nil
}

// legendBox is a filled square in the legend.
type legendBox struct{ c color.Color }

func (l legendBox) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(l.c, c.ClipPolygonXY(pts))
}

// PlotHistogram draws the samples of one interval kind as a histogram.
func PlotHistogram(path string, s Summary) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s (n=%d)", s.Entry, s.Interval, s.Count)
	p.X.Label.Text = "ms"
	p.Y.Label.Text = "runs"
	vals := make(plotter.Values, len(s.Samples))
	for i, v := range s.Samples {
		vals[i] = float64(v)
	}
	h, err := plotter.NewHist(vals, max(5, min(len(vals), 30)))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	p.Add(h)
	if s.WindowMaxMS > 0 {
		for _, x := range []int64{s.WindowMinMS, s.WindowMaxMS} {
			l, err := plotter.NewLine(plotter.XYs{{X: float64(x), Y: 0}, {X: float64(x), Y: float64(s.Count)}})
			if err != nil {
				return err
			}
			l.Color = stateColors[neighctl.Failed]
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
		}
		p.Legend.Add("kernel window", legendBox{stateColors[neighctl.Failed]})
	}
	if err := p.Save(8*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("histogram %s: %w", path, err)
	}
	return nil
}
