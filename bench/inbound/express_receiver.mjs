// The Express side of bench/inbound: what a team writes by hand to receive GitHub webhooks — the raw body
// (express.raw), HMAC-SHA256 of it, a constant-time comparison (crypto.timingSafeEqual), 200 or 401. One
// process, as usually deployed; it keeps nothing (no durability), so it is an upper bound for such a receiver.
import crypto from 'node:crypto';
import express from 'express';

const secret = process.env.SECRET;
if (!secret) throw new Error('SECRET is required');
const app = express();
app.post('/github', express.raw({ type: '*/*', limit: '1mb' }), (req, res) => {
  const got = Buffer.from(req.get('x-hub-signature-256') ?? '');
  const expected = Buffer.from('sha256=' + crypto.createHmac('sha256', secret).update(req.body).digest('hex'));
  if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) {
    res.status(401).send('bad signature');
    return;
  }
  res.status(200).send('ok');
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
