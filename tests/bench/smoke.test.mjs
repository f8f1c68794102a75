// `make bench` still runs and still means what its README says, on a scale
// that fits in the test run: 100 streams, 6 events, polycache under the
// runtime alone (both triggers), the runtime's floor and the peer, from one
// command, with one table and its JSON. The runtime rows renew every stream
// after 2 to 4 writes (SSE_MAX_WRITES=4), so that the load client must
// follow renewals with Last-Event-ID, as browsers do: every event still
// arrives on every stream once. No figure is asserted: speed is the
// bench's to report, not a test's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../common/harness.mjs';

const STREAMS = 100;
const EVENTS = 6;

/** Runs bench/run.sh with these arguments; resolves {code, stdout, stderr}, bounded in time. */
function runBench(args, timeoutMs) {
  return new Promise((resolve, reject) => {
    // detached: its own process group, so that a timeout stops the bench and what it started.
    const child = spawn('bash', ['bench/run.sh', ...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-20_000); });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid, 'SIGINT'); } catch { /* gone */ }
      reject(new Error(`the bench did not end within ${timeoutMs / 1000} s:\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

test('the bench prints polycache, the floor and the peer side by side, every event delivered once, renewals followed', { timeout: 240_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'polycache-bench-smoke-'));
  try {
    const { code, stdout, stderr } = await runBench([
      '--only', 'runtime,floor,peer', '--streams', String(STREAMS), '--events', String(EVENTS),
      '--patch-streams', String(STREAMS), '--runtime-vars', '{"SSE_MAX_WRITES":"4"}', '--out', out,
    ], 200_000);
    assert.equal(code, 0, `bench/run.sh exited ${code}:\n${stderr.slice(-4000)}`);
    for (const label of ['polycache, runtime alone', 'runtime floor (bare Worker + DO)', 'better-sse (peer)']) {
      assert.ok(stdout.includes(`| ${label} | ${STREAMS} |`), `the table has no row for ${label}:\n${stdout}`);
    }
    assert.match(stdout, /### Against the peer \(same run\)/);

    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 1, `one JSON per run, found ${files.join(', ')}`);
    const { fanout } = JSON.parse(readFileSync(join(out, files[0]), 'utf8'));
    const rows = fanout.map((r) => `${r.system}/${r.trigger}`).sort();
    assert.deepEqual(rows, ['floor/invalidate', 'peer/invalidate', 'runtime/invalidate', 'runtime/patch']);
    for (const r of fanout) {
      const what = `${r.label}, ${r.trigger}`;
      assert.equal(r.error, undefined, `${what}: ${r.error}`);
      assert.equal(r.connected, STREAMS, `${what}: streams connected`);
      assert.equal(r.eventsAcked, EVENTS, `${what}: events acknowledged`);
      assert.equal(r.delivered, STREAMS * EVENTS, `${what}: receipts (${JSON.stringify(r.connectErrors)})`);
      assert.equal(r.duplicates, 0, `${what}: events received twice`);
      assert.equal(r.lostAfterHello, 0, `${what}: streams cut`);
    }
    // Every runtime stream is renewed at least once in 6 events (at most 4
    // writes, the preamble one of them); the floor and the peer never renew.
    const renewals = (system, trigger) => fanout.find((r) => r.system === system && r.trigger === trigger).resumes;
    assert.ok(renewals('runtime', 'invalidate') >= STREAMS, `renewals followed: ${renewals('runtime', 'invalidate')}`);
    assert.equal(renewals('floor', 'invalidate'), 0);
    assert.equal(renewals('peer', 'invalidate'), 0);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
