// The console's dashboard: this node's queue depth, lag and delivery outcomes over the last hour, from the
// server's own figures (GET /api/v1/server/stats), refreshed every 10 s.
import {h, mount} from '../dom.js';
import * as api from '../api.js';
import {title, notice} from './common.js';
import {lineChart} from './chart.js';

export function dashboardView(root) {
  const charts = h('div', {class: 'charts'});
  const status = h('p', {class: 'muted', role: 'status'});
  async function refresh() {
    try {
      const stats = await api.get('/api/v1/server/stats', {window: 3600});
      const series = (key) => stats.samples.map((x) => ({at: x.at, value: Number(x[key] || 0)}));
      mount(charts,
        lineChart('Queue depth', series('queueDepth')),
        lineChart('Lag', series('lagSeconds'), ' s'),
        lineChart('Delivered per 10 s', series('delivered')),
        lineChart('Failed per 10 s', series('failed')),
        lineChart('Messages per 10 s', series('messagesCreated')),
        lineChart('Inbound refused per 10 s', series('inboundRejected')));
      mount(status, `Node ${stats.nodeId || ''}: a sample every ${stats.intervalSeconds} s.`);
    } catch (e) {
      mount(status, notice('bad', e.message));
    }
  }
  mount(root, title('Dashboard'), status, charts);
  refresh();
  const timer = setInterval(refresh, 10000);
  return () => clearInterval(timer);
}
