package sim

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The plots are plain SVG written here: four small charts do not need a
// plotting library and its font and image dependencies.

// WritePlots writes the run's SVG plots into dir and returns their paths.
func WritePlots(dir string, r *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plot folder: %w", err)
	}
	title := fmt.Sprintf("%d nodes, %d queries per policy", r.Nodes, r.Queries)
	plots := map[string]string{}

	var names []string
	var msgs []float64
	for _, p := range r.Policies {
		names = append(names, p.Name)
		msgs = append(msgs, p.MessagesPerQuery)
	}
	plots["messages-per-query.svg"] = barChart("Messages per query by policy ("+title+")", "messages per query (log scale)", names, msgs)

	var measured, tree []point
	for _, p := range r.ReachVsTTL {
		measured = append(measured, point{float64(p.TTL), p.Measured})
		tree = append(tree, point{float64(p.TTL), p.Tree})
	}
	plots["reach-vs-ttl.svg"] = lineChart(fmt.Sprintf("Flood reach on the %d-ultrapeer graph", r.Ultrapeers), "TTL", "ultrapeers reached (log scale)", true,
		[]series{{"measured", measured}, {"tree formula sum d(d-1)^(i-1)", tree}})

	var cdfResults, cdfFirst []series
	for _, p := range r.Policies {
		xs := make([]float64, len(p.results))
		for i, v := range p.results {
			xs[i] = float64(v)
		}
		cdfResults = append(cdfResults, series{p.Name, cdf(xs, r.Queries)})
		cdfFirst = append(cdfFirst, series{p.Name, cdf(p.firstHits, r.Queries)})
	}
	plots["results-cdf.svg"] = lineChart("Results per query, CDF ("+title+")", "true results per query", "share of queries", false, cdfResults)
	plots["first-hit-cdf.svg"] = lineChart("Time to first hit, CDF over all queries ("+title+")", "virtual ms", "share of queries with a hit", false, cdfFirst)

	var out []string
	for _, name := range slices.Sorted(maps.Keys(plots)) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(plots[name]), 0o644); err != nil {
			return out, fmt.Errorf("plot: %w", err)
		}
		out = append(out, path)
	}
	return out, nil
}

type point struct{ x, y float64 }

type series struct {
	name   string
	points []point
}

// cdf is the step CDF of xs over total queries (queries missing from xs
// never reach 1: a query without a hit has no first-hit time).
func cdf(xs []float64, total int) []point {
	s := slices.Clone(xs)
	slices.Sort(s)
	var out []point
	for i, x := range s {
		if i+1 < len(s) && s[i+1] == x {
			continue
		}
		out = append(out, point{x, float64(i+1) / float64(max(total, 1))})
	}
	return out
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

const (
	width, height     = 720, 420
	left, right       = 80, 20
	top, bottom       = 40, 60
	plotW, plotH      = width - left - right, height - top - bottom
	svgHeader         = `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">` + "\n"
	svgBackground     = `<rect width="100%" height="100%" fill="white"/>` + "\n"
	svgTitle          = `<text x="%d" y="22" text-anchor="middle" font-size="14">%s</text>` + "\n"
	svgAxisLabelX     = `<text x="%d" y="%d" text-anchor="middle">%s</text>` + "\n"
	svgAxisLabelY     = `<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>` + "\n"
	svgAxes           = `<path d="M%d %d V%d H%d" stroke="black" fill="none"/>` + "\n"
	svgTickLabelStyle = `text-anchor="end"`
)

func header(b *strings.Builder, title, xlabel, ylabel string) {
	fmt.Fprintf(b, svgHeader, width, height, width, height)
	b.WriteString(svgBackground)
	fmt.Fprintf(b, svgTitle, width/2, esc(title))
	fmt.Fprintf(b, svgAxisLabelX, left+plotW/2, height-15, esc(xlabel))
	fmt.Fprintf(b, svgAxisLabelY, top+plotH/2, esc(ylabel))
	fmt.Fprintf(b, svgAxes, left, top, top+plotH, left+plotW)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// barChart draws one bar per name on a log10 scale, with its value.
func barChart(title, ylabel string, names []string, values []float64) string {
	var b strings.Builder
	header(&b, title, "", ylabel)
	hi := 1.0
	for _, v := range values {
		hi = max(hi, v)
	}
	decades := math.Ceil(math.Log10(hi))
	y := func(v float64) float64 {
		return float64(top+plotH) - float64(plotH)*math.Log10(max(v, 1))/decades
	}
	for d := 0.0; d <= decades; d++ {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" %s>%s</text>`+"\n",
			left, left+plotW, y(math.Pow(10, d)), y(math.Pow(10, d)), left-6, y(math.Pow(10, d))+4, svgTickLabelStyle, human(math.Pow(10, d)))
	}
	slot := float64(plotW) / float64(max(len(values), 1))
	for i, v := range values {
		x := float64(left) + slot*float64(i) + slot*0.15
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y(v), slot*0.7, float64(top+plotH)-y(v), palette[i%len(palette)])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x+slot*0.35, y(v)-5, human(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x+slot*0.35, top+plotH+18, esc(names[i]))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// lineChart draws each series as a polyline with a legend.
func lineChart(title, xlabel, ylabel string, logY bool, ss []series) string {
	var b strings.Builder
	header(&b, title, xlabel, ylabel)
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.points {
			xlo, xhi, yhi = min(xlo, p.x), max(xhi, p.x), max(yhi, p.y)
		}
	}
	if math.IsInf(xlo, 1) {
		xlo, xhi, yhi = 0, 1, 1
	}
	if xhi == xlo {
		xhi = xlo + 1
	}
	fy := func(v float64) float64 { return v }
	if logY {
		fy = func(v float64) float64 { return math.Log10(max(v, 1)) }
		ylo, yhi = 0, math.Ceil(math.Log10(max(yhi, 10)))
	} else if yhi <= 0 {
		yhi = 1
	}
	intX := xhi-xlo <= 8 && xlo == math.Trunc(xlo) && xhi == math.Trunc(xhi)
	for _, s := range ss {
		for _, p := range s.points {
			intX = intX && p.x == math.Trunc(p.x)
		}
	}
	px := func(x float64) float64 { return float64(left) + float64(plotW)*(x-xlo)/(xhi-xlo) }
	py := func(v float64) float64 { return float64(top+plotH) - float64(plotH)*(fy(v)-ylo)/(yhi-ylo) }
	for i := 0; i <= 4; i++ {
		yv := ylo + (yhi-ylo)*float64(i)/4
		label := fmt.Sprintf("%.2g", yv)
		if logY {
			label = human(math.Pow(10, yv))
		}
		yy := float64(top+plotH) - float64(plotH)*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" %s>%s</text>`+"\n",
			left, left+plotW, yy, yy, left-6, yy+4, svgTickLabelStyle, label)
		if !intX {
			xv := xlo + (xhi-xlo)*float64(i)/4
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(xv), top+plotH+18, human(xv))
		}
	}
	if intX { // a few whole numbers (TTLs): a tick each
		for xv := xlo; xv <= xhi; xv++ {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(xv), top+plotH+18, human(xv))
		}
	}
	for i, s := range ss {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), color)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			left+12, top+10+16*i, color, left+30, top+15+16*i, esc(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// human writes a value compactly: 12, 3.4k, 1.2M.
func human(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
