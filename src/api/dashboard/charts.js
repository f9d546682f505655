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
