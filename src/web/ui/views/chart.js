// Charts drawn as SVG elements (no library, no markup strings): bars of successes and failures, and lines of
// a figure over time. Each has a text alternative (its aria-label and a title per bar).
import {h, s} from '../dom.js';

const W = 600;
const H = 140;

// buckets: [{start, success, failure}] -> stacked bars, successes over failures.
export function healthChart(buckets) {
  if (!buckets.length) return h('p', {class: 'muted'}, 'No attempt in this period.');
  const max = Math.max(1, ...buckets.map((b) => b.success + b.failure));
  const bw = W / buckets.length;
  const total = buckets.reduce((a, b) => [a[0] + b.success, a[1] + b.failure], [0, 0]);
  const rate = total[0] + total[1] ? Math.round((100 * total[0]) / (total[0] + total[1])) : 100;
  const bars = buckets.map((b, i) => {
    const okH = (b.success / max) * (H - 10);
    const badH = (b.failure / max) * (H - 10);
    const label = `${new Date(b.start).toLocaleString()}: ${b.success} succeeded, ${b.failure} failed`;
    return s('g', null, s('title', null, label),
      s('rect', {x: i * bw + 1, y: H - okH, width: Math.max(bw - 2, 1), height: okH, class: 'bar-ok'}),
      s('rect', {x: i * bw + 1, y: H - okH - badH, width: Math.max(bw - 2, 1), height: badH, class: 'bar-bad'}));
  });
  return h('figure', {class: 'chart'},
    s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${rate}% of ${total[0] + total[1]} attempts succeeded`,
      preserveAspectRatio: 'none'}, bars),
    h('figcaption', null, `${rate}% succeeded (${total[0]} of ${total[0] + total[1]} attempts)`));
}

// points: [{at, value}] -> a line, with its latest value in the caption.
export function lineChart(label, points, unit = '') {
  const values = points.map((p) => p.value);
  const max = Math.max(1, ...values);
  const step = points.length > 1 ? W / (points.length - 1) : 0;
  const x = (i) => (points.length > 1 ? i * step : W - 4);
  const coords = points.map((p, i) => `${x(i).toFixed(1)},${(H - (p.value / max) * (H - 10)).toFixed(1)}`).join(' ');
  const latest = values.length ? values[values.length - 1] : 0;
  return h('figure', {class: 'chart'},
    h('h3', null, label),
    s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: now ${latest}${unit}, at most ${max}${unit}`,
      preserveAspectRatio: 'none'},
    s('polyline', {points: coords, class: 'line', fill: 'none'}),
    // The latest value as a dot: a line needs two samples, a dot shows the first one too.
    points.length ? s('circle', {cx: Math.min(x(points.length - 1), W - 4).toFixed(1), cy: (H - (latest / max) * (H - 10)).toFixed(1), r: 4, class: 'dot'}) : null),
    h('figcaption', null, `now ${latest}${unit} · max ${Math.round(max * 100) / 100}${unit}`));
}
