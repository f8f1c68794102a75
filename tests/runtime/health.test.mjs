import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker } from '../common/harness.mjs';

let worker;
before(async () => { worker = await startWorker({ vars: { INSTANCE_ID: 'health-test' } }); });
after(async () => { await worker?.dispose(); });

test('GET /api/health answers ok with version, instance and backend', async () => {
  const res = await worker.fetch('/api/health');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const body = await res.json();
  assert.equal(body.ok, true);
  assert.match(body.version, /^\d+\.\d+\.\d+$/);
  assert.equal(body.instance, 'health-test');
  assert.equal(body.backend, 'memory');
});

test('an unknown route is a JSON 404 and a wrong method a JSON 405', async () => {
  const missing = await worker.fetch('/api/nope');
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'not_found');
  const wrong = await worker.fetch('/api/health', { method: 'DELETE' });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get('allow'), 'GET');
  assert.equal((await wrong.json()).error.code, 'method_not_allowed');
});

test('a malformed setting fails the request with a message naming it', async () => {
  const bad = await startWorker({ vars: { INSTANCE_ID: 'x', SSE_HEARTBEAT_SECS: 'often' }, requireHealthy: false });
  try {
    const res = await bad.fetch('/api/health');
    assert.equal(res.status, 500);
    const { error } = await res.json();
    assert.equal(error.code, 'configuration');
    assert.match(error.message, /SSE_HEARTBEAT_SECS/);
  } finally {
    await bad.dispose();
  }
});
