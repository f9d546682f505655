// SVG charts drawn from API data: horizontal bars on a time axis (stages of a run, test
// files per worker, phases of a deployment) and grouped bars (canary vs baseline).
import {svg, duration} from "./dom.js";

const W = 800;        // viewBox width; the SVG scales to its container
const LABEL = 150;    // room for row labels
const ROW = 24;

// rows: [{label, bars: [{start, end, cls, title, text}]}] with start/end in ms from t0.
export function timeline(rows, opts = {}) {
  const span = Math.max(1, ...rows.flatMap(r => r.bars.map(b => b.end)));
  const height = rows.length * ROW + 30;
  const x = t => LABEL + (t / span) * (W - LABEL - 10);
  const chart = svg("svg", {class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img",
                            "aria-label": opts.label || "timeline"});
  if (opts.label) chart.append(svg("title", {}, opts.label));
  rows.forEach((r, i) => {
    const y = 6 + i * ROW;
    chart.append(svg("text", {x: 6, y: y + 15}, r.label));
    for (const b of r.bars) {
      const w = Math.max(2, x(b.end) - x(b.start));
      const rect = svg("rect", {x: x(b.start), y: y + 2, width: w, height: ROW - 6, rx: 2,
                                class: "bar-" + (b.cls || "other")});
      rect.append(svg("title", {}, b.title || ""));
      chart.append(rect);
      if (b.text && w > 40) chart.append(svg("text", {x: x(b.start) + 4, y: y + 15}, b.text));
    }
  });
  // The time axis: 0, half, the whole span.
  const ay = rows.length * ROW + 12;
  chart.append(svg("line", {class: "axis", x1: LABEL, x2: W - 10, y1: ay - 4, y2: ay - 4}));
  for (const f of [0, 0.5, 1]) {
    chart.append(svg("text", {x: x(f * span) - (f === 1 ? 40 : 0), y: ay + 10}, duration(f * span) || "0"));
  }
  return chart;
}

// groups: [{label, values: [{name, value, cls}]}]; bars scaled to the largest value.
export function groupedBars(groups, opts = {}) {
  const series = Math.max(1, ...groups.map(g => g.values.length));
  const max = Math.max(1e-9, ...groups.flatMap(g => g.values.map(v => v.value || 0)));
  const bh = 14;
  const gh = series * bh + 10;
  const height = groups.length * gh + 10;
  const chart = svg("svg", {class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img",
                            "aria-label": opts.label || "chart"});
  groups.forEach((g, i) => {
    const y = 6 + i * gh;
    chart.append(svg("text", {x: 6, y: y + bh}, g.label));
    g.values.forEach((v, j) => {
      const w = Math.max(1, ((v.value || 0) / max) * (W - LABEL - 120));
      const rect = svg("rect", {x: LABEL, y: y + j * bh, width: w, height: bh - 3,
                                class: "bar-" + (v.cls || "other")});
      rect.append(svg("title", {}, `${v.name}: ${opts.format ? opts.format(v.value) : v.value}`));
      chart.append(rect);
      chart.append(svg("text", {x: LABEL + w + 6, y: y + j * bh + 10},
                       `${v.name} ${opts.format ? opts.format(v.value) : v.value}`));
    });
  });
  return chart;
}

// Lines on a time axis: series [{name, cls, points: [{t, v}]}] (t in ms since the epoch)
// over [opts.from, opts.to]; the y axis from 0 to the largest value (opts.format for its
// labels). A gap longer than opts.gap ms between two points breaks the line.
export function lineChart(series, opts = {}) {
  const LW = 400, H = 170, top = 10, bottom = H - 22, left = 52, right = LW - 8;  // phone-legible
  const to = opts.to || Math.max(0, ...series.flatMap(s => s.points.map(p => p.t)));
  const from = opts.from || Math.min(to - 1, ...series.flatMap(s => s.points.map(p => p.t)));
  const max = Math.max(0, ...series.flatMap(s => s.points.map(p => p.v || 0)));
  const yMax = max > 0 ? max * 1.1 : 1;
  const fmt = opts.format || (v => String(v));
  const x = t => left + ((t - from) / Math.max(1, to - from)) * (right - left);
  const y = v => bottom - ((v || 0) / yMax) * (bottom - top);
  const chart = svg("svg", {class: "chart line-chart", viewBox: `0 0 ${LW} ${H}`, role: "img",
                            "aria-label": opts.label || "chart", "data-max": max});
  if (opts.label) chart.append(svg("title", {}, opts.label));
  // Axes: 0 and the top of the scale; the time span's start, middle and end.
  chart.append(svg("line", {class: "axis", x1: left, x2: right, y1: bottom, y2: bottom}));
  chart.append(svg("line", {class: "axis", x1: left, x2: left, y1: top, y2: bottom}));
  chart.append(svg("text", {x: 4, y: bottom}, fmt(0)));
  chart.append(svg("text", {x: 4, y: top + 8}, fmt(yMax)));
  for (const f of [0, 0.5, 1]) {
    const ago = (1 - f) * (to - from);
    chart.append(svg("text", {x: x(from + f * (to - from)) - (f === 1 ? 22 : f === 0.5 ? 18 : 0),
                              y: H - 6}, ago <= 0 ? "now" : ago >= 60000 ? `-${Math.round(ago / 60000)}m` : "-" + duration(ago)));
  }
  for (const s of series) {
    const runs = [];
    let run = [];
    let last = null;
    for (const p of s.points) {
      if (last !== null && opts.gap && p.t - last > opts.gap) {
        runs.push(run);
        run = [];
      }
      run.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
      last = p.t;
    }
    runs.push(run);
    for (const r of runs) {
      if (r.length === 0) continue;
      const line = r.length === 1
        ? svg("circle", {cx: r[0].split(",")[0], cy: r[0].split(",")[1], r: 2, class: "dot-" + (s.cls || "other")})
        : svg("polyline", {points: r.join(" "), class: "line-" + (s.cls || "other")});
      line.append(svg("title", {}, s.name));
      chart.append(line);
    }
  }
  return chart;
}
