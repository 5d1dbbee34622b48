package otelphoneauth_test

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// A chart is one dashboard panel: lines over the simulated minutes.
type chart struct {
	title   string
	percent bool // values are fractions, shown as percentages
	lines   []line
}

type line struct {
	name   string
	color  string
	values []float64
}

// Colours of Grafana's classic palette, on its dark theme.
const (
	green, yellow, blue, orange, purple, red, cyan = "#73BF69", "#FADE2A", "#5794F2", "#FF9830", "#B877D9", "#F2495C", "#8AB8FF"
	background, panelColor, textColor, gridColor   = "#111217", "#181b1f", "#ccccdc", "#2c3235"
)

// renderDashboard draws the simulation as the dashboard of
// docs/grafana-dashboard.json would show it, six panels in three rows: sim
// (the defaults), with the codes the bot got in open (no guard) beside
// them.
func renderDashboard(sim, open *simulation) []byte {
	countries := make([]string, 0, len(sim.sent))
	for c := range sim.sent {
		if c != all && c != others {
			countries = append(countries, c)
		}
	}
	slices.Sort(countries)
	var sent []line
	palette := []string{green, blue, yellow, purple, cyan, orange}
	for i, c := range countries {
		l := line{c, palette[i%len(palette)], sim.sent[c]}
		if c == botCountry {
			l.name, l.color = c+" (the bot's range)", red
		}
		sent = append(sent, l)
	}
	conversion := []line{ // drawn in this order: all countries below the rest
		{"all countries", textColor, sim.conversion[all]},
		{"the other countries", green, sim.conversion[others]},
		{botCountry, red, sim.conversion[botCountry]},
	}
	var refusals []line
	limitColors := map[string]string{"global": red, "range_guard": orange, "country_guard": purple, "range": yellow, "country": blue, "cooldown": cyan, "phone": green}
	for _, limit := range []string{"global", "range_guard", "country_guard", "range", "country", "cooldown", "phone"} {
		if sum(sim.refusals[limit]) > 0 {
			refusals = append(refusals, line{limit, limitColors[limit], sim.refusals[limit]})
		}
	}
	charts := []chart{
		{title: "Codes sent per minute, by country", lines: sent},
		{title: "Conversion: codes verified / codes sent (15 min)", percent: true, lines: conversion},
		{title: "Limit refusals per minute, by limit", lines: refusals},
		{title: "Throttled number ranges (phoneauth_guard_throttled_ranges)", lines: []line{{"ranges", orange, sim.throttled}}},
		{title: "Codes to the bot's range per minute", lines: []line{
			{"without the guard", red, open.sent[botCountry]}, {"with the guard (default)", green, sim.sent[botCountry]},
		}},
		{title: "Successful verifications per minute", lines: []line{{"success", green, sim.verified[all]}}},
	}

	const width, height, panelW, panelH, gap, top = 1200, 1160, 585, 350, 10, 80
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Inter, Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="%s"/>`+"\n", width, height, background)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="18" fill="%s">phoneauth: simulated SMS pumping against the default limits and the conversion guard</text>`+"\n", gap, textColor)
	fmt.Fprintf(&b, `<text x="%d" y="48" font-size="12" fill="%s">%d ordinary users an hour in five countries, 90%% of whom type their code in. Default limits: a number range may have 10 unverified codes an hour; the global budget is 1,000 codes an hour.</text>`+"\n",
		gap, textColor, usersPerHour)
	fmt.Fprintf(&b, `<text x="%d" y="66" font-size="12" fill="%s">From 1:00 to 2:30 (shaded), a bot asks %d codes a minute for %sxxx from ever-new addresses and devices, verifying none: %.0f codes sent (%.0f without the guard).</text>`+"\n",
		gap, textColor, botPerMinute, botRange, sim.botSent, open.botSent)
	for i, c := range charts {
		x := gap + (i%2)*(panelW+gap)
		y := top + (i/2)*(panelH+gap)
		drawChart(&b, c, x, y, panelW, panelH)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// drawChart draws one panel with its top-left corner at (x, y).
func drawChart(b *bytes.Buffer, c chart, x, y, w, h int) {
	const padLeft, padRight, padTop, padBottom = 48, 14, 50, 26
	fmt.Fprintf(b, `<g transform="translate(%d,%d)">`+"\n", x, y)
	fmt.Fprintf(b, `<rect width="%d" height="%d" rx="3" fill="%s" stroke="%s"/>`+"\n", w, h, panelColor, gridColor)
	fmt.Fprintf(b, `<text x="10" y="20" font-size="14" fill="%s">%s</text>`+"\n", textColor, html.EscapeString(c.title))
	lx := 10
	for _, l := range c.lines {
		fmt.Fprintf(b, `<rect x="%d" y="30" width="10" height="10" fill="%s"/><text x="%d" y="39" font-size="11" fill="%s">%s</text>`+"\n", lx, l.color, lx+14, textColor, html.EscapeString(l.name))
		lx += 24 + 6*len(l.name)
	}

	plotW, plotH := float64(w-padLeft-padRight), float64(h-padTop-padBottom)
	maxY := 0.0
	for _, l := range c.lines {
		for _, v := range l.values {
			if !math.IsNaN(v) {
				maxY = max(maxY, v)
			}
		}
	}
	if c.percent {
		maxY = 1
	}
	maxY = niceCeil(maxY)
	px := func(minute float64) float64 { return padLeft + minute/float64(simMinutes-1)*plotW }
	py := func(v float64) float64 { return padTop + plotH - v/maxY*plotH }

	// The attack, shaded.
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.08"/>`+"\n", px(attackStart), padTop, px(attackEnd)-px(attackStart), plotH, red)
	// Grid and axes.
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		label := trimFloat(v)
		if c.percent {
			label = fmt.Sprintf("%.0f%%", 100*v)
		}
		fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/><text x="%d" y="%.1f" font-size="10" fill="%s" text-anchor="end">%s</text>`+"\n",
			padLeft, padLeft+plotW, py(v), py(v), gridColor, padLeft-6, py(v)+3, textColor, label)
	}
	for m := 0; m < simMinutes; m += 30 {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="10" fill="%s" text-anchor="middle">%d:%02d</text>`+"\n", px(float64(m)), h-8, textColor, m/60, m%60)
	}
	// The lines, broken where a value is NaN (no point).
	for _, l := range c.lines {
		var pts strings.Builder
		flush := func() {
			if pts.Len() > 0 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", l.color, strings.TrimSpace(pts.String()))
				pts.Reset()
			}
		}
		for i, v := range l.values {
			if math.IsNaN(v) {
				flush()
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(float64(i)), py(v))
		}
		flush()
	}
	b.WriteString("</g>\n")
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
