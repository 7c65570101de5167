package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/go-analyze/charts"
)

// ChartKind is how a chart is drawn.
type ChartKind string

// Chart kinds.
const (
	ChartLine    ChartKind = "line"
	ChartBar     ChartKind = "bar"     // series side by side
	ChartStacked ChartKind = "stacked" // series stacked in one bar
)

// Series is one named line or bar series; Values has one value per label.
type Series struct {
	Name   string
	Values []float64
}

// Chart is a chart's data: what BuildCharts decides. Its SVG is drawn by
// Draw.
type Chart struct {
	ID     string // stable id: "visits-hour", "revenue-day", "payables-period", "denials-day"
	Title  string
	Kind   ChartKind
	Labels []string // category axis
	Series []Series
	Unit   string // what a value counts: "visits", "EUR", "taps"
}

// Empty reports whether the chart has nothing to draw.
func (c Chart) Empty() bool {
	if len(c.Labels) == 0 || len(c.Series) == 0 {
		return true
	}
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v != 0 {
				return false
			}
		}
	}
	return true
}

// SeriesNames returns the series' names, in order.
func (c Chart) SeriesNames() []string {
	out := make([]string, len(c.Series))
	for i, s := range c.Series {
		out[i] = s.Name
	}
	return out
}

// chartTheme colors the series, in the SVG and in the legend.
var chartTheme = charts.GetDefaultTheme()

// LegendItem is a series' name and the CSS color it is drawn in.
type LegendItem struct {
	Name  string
	Color template.CSS
}

// Legend returns the chart's legend. It is HTML beside the SVG, not text
// inside it: the library places SVG text by its own font's metrics, and a
// browser without that font draws wider text, so long series names ran
// into each other.
func (c Chart) Legend() []LegendItem {
	out := make([]LegendItem, len(c.Series))
	for i, s := range c.Series {
		out[i] = LegendItem{Name: s.Name, Color: template.CSS(chartTheme.GetSeriesColor(i).String())}
	}
	return out
}

// Chart canvas size, in SVG user units.
const (
	chartWidth  = 760
	chartHeight = 340
)

// Draw renders the chart as an SVG element. An empty chart draws nothing
// (the template says "no data").
func (c Chart) Draw() (template.HTML, error) {
	if c.Empty() {
		return "", nil
	}
	for _, s := range c.Series {
		if len(s.Values) != len(c.Labels) {
			return "", fmt.Errorf("web: chart %s: series %q has %d values for %d labels", c.ID, s.Name, len(s.Values), len(c.Labels))
		}
	}
	values := make([][]float64, len(c.Series))
	for i, s := range c.Series {
		values[i] = s.Values
	}
	legend := charts.LegendOption{SeriesNames: c.SeriesNames(), Show: charts.Ptr(false)} // Legend draws it
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: chartWidth, Height: chartHeight, Theme: chartTheme})
	var err error
	switch c.Kind {
	case ChartLine:
		opt := charts.NewLineChartOptionWithData(values)
		opt.XAxis.Labels = c.Labels
		opt.Legend = legend
		opt.Padding = charts.NewBoxEqual(16)
		err = p.LineChart(opt)
	default:
		opt := charts.NewBarChartOptionWithData(values)
		opt.CategoryAxis.Labels = c.Labels
		opt.Legend = legend
		opt.Padding = charts.NewBoxEqual(16)
		if c.Kind == ChartStacked {
			opt.StackSeries = charts.Ptr(true)
		}
		err = p.BarChart(opt)
	}
	if err != nil {
		return "", fmt.Errorf("web: drawing chart %s: %w", c.ID, err)
	}
	b, err := p.Bytes()
	if err != nil {
		return "", fmt.Errorf("web: drawing chart %s: %w", c.ID, err)
	}
	svg := string(b)
	// The library gives it a viewBox: the page's CSS scales it.
	svg = strings.Replace(svg, "<svg ", fmt.Sprintf(`<svg role="img" aria-label="%s" `, template.HTMLEscapeString(c.Title)), 1)
	return template.HTML(svg), nil
}
