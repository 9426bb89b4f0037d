// One attempt: what was sent (URL, and the request headers when the server kept them), what the receiver
// answered (status, body, duration), and a resend.
import {h, mount} from '../dom.js';
import * as api from '../api.js';
import {when, prettyText} from '../format.js';
import {title, notice, button, badge, facts, code} from './common.js';

export async function attemptView(root, ctx, [appId, msgId, attemptId]) {
  const base = api.app(appId);
  const a = await api.get(`${base}/msg/${encodeURIComponent(msgId)}/attempt/${encodeURIComponent(attemptId)}`);
  const out = h('div', {role: 'status'});
  const resend = ctx.can('CreateAttempts') ? button('Resend', async () => {
    try {
      await api.post(`${base}/msg/${encodeURIComponent(a.msgId)}/endpoint/${encodeURIComponent(a.endpointId)}/resend`);
      mount(out, notice('ok', 'Resent: the new attempt appears on the message.'));
    } catch (e) {
      mount(out, notice('bad', e.message));
    }
  }, {kind: 'primary'}) : null;
  const headers = a.requestHeaders && typeof a.requestHeaders === 'object'
    ? code(Object.entries(a.requestHeaders).map(([k, v]) => `${k}: ${v}`).join('\n'), 'Request headers')
    : h('p', {class: 'muted'}, 'The request headers of this attempt were not kept.');
  mount(root,
    title('Attempt', resend),
    out,
    facts([
      ['Status', badge(a.status)],
      ['Response status', String(a.responseStatusCode || 'no answer')],
      ['Duration', `${a.responseDurationMs} ms`],
      ['Trigger', a.triggerTypeText || ''],
      ['When', when(a.timestamp)],
      ['URL', h('span', {class: 'mono'}, a.url)],
      ['Message', h('a', {href: ctx.appPath(appId, `/messages/${encodeURIComponent(a.msgId)}`)}, a.msgId)],
      ['Endpoint', h('a', {href: ctx.appPath(appId, `/endpoints/${encodeURIComponent(a.endpointId)}`)}, a.endpointId)],
    ]),
    h('h2', null, 'Request headers'), headers,
    h('h2', null, 'Response body'), code(a.response ? prettyText(a.response) : '(empty)', 'Response body'));
}
