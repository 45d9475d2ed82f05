// The room-history chart: plain SVG drawn from GET /health/timeseries buckets.
//
// Three stacked strips share one time axis: temperature, humidity (each with its safe range
// shaded) and the number of cries per bucket. It is redrawn at the element's real width so the
// text stays legible on a phone, and a line breaks where buckets are missing (the API omits
// empty buckets) instead of drawing a slope across hours without data.

const SVG = "http://www.w3.org/2000/svg";
const LEFT = 44;
const RIGHT = 10;
const STRIP = 96;
const CRY_STRIP = 36;
const GAP = 22;
const AXIS = 22;

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function tickLabel(time, spanMs) {
  const options = spanMs > 2 * 86_400_000 ? { weekday: "short" } : { hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(undefined, options).format(time);
}

// One strip of a measure: axis labels, the safe band, the line (broken at gaps) and dots.
function strip(svg, { top, width, x, points, band, label, unit, stepMs }) {
  const values = points.map((p) => p.value);
  const limits = band ? [...values, band[0], band[1]] : values;
  let low = Math.min(...limits);
  let high = Math.max(...limits);
  const pad = Math.max((high - low) * 0.1, 0.5);
  low -= pad;
  high += pad;
  const y = (value) => top + STRIP - ((value - low) / (high - low)) * STRIP;
  svg.append(element("text", { x: LEFT, y: top - 6, class: "strip-label" }, `${label} (${unit})`));
  svg.append(element("rect", { x: LEFT, y: top, width: width - LEFT - RIGHT, height: STRIP, class: "frame" }));
  if (band) {
    svg.append(
      element("rect", {
        x: LEFT, y: y(band[1]), width: width - LEFT - RIGHT, height: y(band[0]) - y(band[1]), class: "band",
      }),
    );
  }
  for (const value of [high - pad, low + pad]) {
    svg.append(element("text", { x: LEFT - 6, y: y(value) + 4, class: "tick", "text-anchor": "end" }, value.toFixed(1)));
  }
  let path = "";
  let previous = null;
  for (const point of points) {
    const joined = previous && point.time - previous.time <= stepMs * 1.5;
    path += `${joined ? "L" : "M"}${x(point.time).toFixed(1)},${y(point.value).toFixed(1)}`;
    previous = point;
  }
  svg.append(element("path", { d: path, class: "line" }));
  // Dots make single readings (no neighbour to draw a line to) visible.
  for (const point of points) {
    const outside = band && (point.value < band[0] || point.value > band[1]);
    svg.append(element("circle", { cx: x(point.time), cy: y(point.value), r: 2.5, class: outside ? "dot out" : "dot" }));
  }
}

// buckets: the API's `data` (newest first); range: {from, to} Dates and stepMs; bands: optional
// {temperature: [min, max], humidity: [min, max]}.
export function renderChart(svg, buckets, { from, to, stepMs, bands }) {
  svg.replaceChildren();
  const width = Math.max(svg.clientWidth || 0, 280);
  const height = GAP + STRIP + GAP + STRIP + GAP + CRY_STRIP + AXIS;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", String(height));
  const ordered = [...buckets].sort((a, b) => new Date(a.time) - new Date(b.time));
  const span = to - from;
  const x = (time) => LEFT + ((time - from) / span) * (width - LEFT - RIGHT);
  const series = (key) =>
    ordered.filter((b) => b.record_count > 0 && b[key] !== null).map((b) => ({ time: new Date(b.time), value: b[key] }));
  const temperature = series("avg_temperature");
  const humidity = series("avg_humidity");
  const cries = ordered.filter((b) => b.cry_count > 0);
  if (!temperature.length && !humidity.length && !cries.length) {
    svg.setAttribute("viewBox", `0 0 ${width} 80`);
    svg.setAttribute("height", "80");
    svg.append(element("text", { x: width / 2, y: 44, class: "empty", "text-anchor": "middle" }, "No readings in this period"));
    svg.setAttribute("aria-label", "No readings in this period");
    return;
  }
  const common = { width, x, stepMs };
  if (temperature.length) {
    strip(svg, { ...common, top: GAP, points: temperature, band: bands && bands.temperature, label: "Temperature", unit: "°C" });
  }
  if (humidity.length) {
    strip(svg, { ...common, top: GAP * 2 + STRIP, points: humidity, band: bands && bands.humidity, label: "Humidity", unit: "%" });
  }
  // Cries: one bar per bucket, its height relative to the busiest bucket; "may be sick" on top.
  const cryTop = GAP * 3 + STRIP * 2;
  const most = Math.max(1, ...cries.map((b) => b.cry_count));
  const barWidth = Math.max(2, ((width - LEFT - RIGHT) * stepMs) / span - 1);
  const cryLabel = cries.length ? `Cries (up to ${most} per bar)` : "Cries: none in this period";
  svg.append(element("text", { x: LEFT, y: cryTop - 6, class: "strip-label" }, cryLabel));
  svg.append(element("rect", { x: LEFT, y: cryTop, width: width - LEFT - RIGHT, height: CRY_STRIP, class: "frame" }));
  for (const bucket of cries) {
    const height = (bucket.cry_count / most) * CRY_STRIP;
    const left = x(new Date(bucket.time));
    svg.append(element("rect", { x: left, y: cryTop + CRY_STRIP - height, width: barWidth, height, class: "cry-bar" }));
    if (bucket.sick_count > 0) {
      const sick = (bucket.sick_count / most) * CRY_STRIP;
      svg.append(element("rect", { x: left, y: cryTop + CRY_STRIP - sick, width: barWidth, height: sick, class: "sick-bar" }));
    }
  }
  // Time axis: evenly spaced labels, as many as fit without overlapping (about 90 px each).
  const axisY = cryTop + CRY_STRIP + 16;
  const steps = Math.max(1, Math.min(6, Math.floor((width - LEFT - RIGHT) / 90)));
  for (let i = 0; i <= steps; i += 1) {
    const time = new Date(from.getTime() + (span * i) / steps);
    const anchor = i === 0 ? "start" : i === steps ? "end" : "middle";
    svg.append(element("text", { x: x(time), y: axisY, class: "tick", "text-anchor": anchor }, tickLabel(time, span)));
  }
  const last = (points) => (points.length ? points[points.length - 1].value.toFixed(1) : "none");
  const totalCries = cries.reduce((sum, b) => sum + b.cry_count, 0);
  svg.setAttribute(
    "aria-label",
    `Latest temperature ${last(temperature)} °C, humidity ${last(humidity)} %, ${totalCries} cries in this period`,
  );
}
