// `make bench` still runs and still means what its README says, on a scale
// that fits in the test run: 100 streams, 6 events, polycache under the
// runtime alone (both triggers) with one Edge and with three regions' Edges
// (the streams spread evenly over them by the region header), the runtime's
// floor and the peer, from one command, with one table and its JSON. The runtime rows renew every stream
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
      '--only', 'runtime,floor,peer', '--regions', '1,3', '--streams', String(STREAMS), '--events', String(EVENTS),
      '--patch-streams', String(STREAMS), '--runtime-vars', '{"SSE_MAX_WRITES":"4"}', '--out', out,
    ], 200_000);
    assert.equal(code, 0, `bench/run.sh exited ${code}:\n${stderr.slice(-4000)}`);
    const labels = ['polycache, runtime alone, 1 Edge', 'polycache, runtime alone, 3 Edges (weur, enam, apac)', 'runtime floor (bare Worker + DO)', 'better-sse (peer)'];
    for (const label of labels) {
      assert.ok(stdout.includes(`| ${label} | ${STREAMS} |`), `the table has no row for ${label}:\n${stdout}`);
    }
    assert.match(stdout, /### Against the peer \(same run\)/);

    const files = readdirSync(out).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 1, `one JSON per run, found ${files.join(', ')}`);
    const { fanout } = JSON.parse(readFileSync(join(out, files[0]), 'utf8'));
    const rows = fanout.map((r) => `${r.system}${r.edgeCount ? `@${r.edgeCount}` : ''}/${r.trigger}`).sort();
    assert.deepEqual(rows, ['floor/invalidate', 'peer/invalidate', 'runtime@1/invalidate', 'runtime@1/patch', 'runtime@3/invalidate', 'runtime@3/patch']);
    for (const r of fanout) {
      const what = `${r.label}, ${r.trigger}`;
      assert.equal(r.error, undefined, `${what}: ${r.error}`);
      assert.equal(r.connected, STREAMS, `${what}: streams connected`);
      assert.equal(r.eventsAcked, EVENTS, `${what}: events acknowledged`);
      assert.equal(r.delivered, STREAMS * EVENTS, `${what}: receipts (${JSON.stringify(r.connectErrors)})`);
      assert.equal(r.duplicates, 0, `${what}: events received twice`);
      assert.equal(r.lostAfterHello, 0, `${what}: streams cut`);
    }
    // Three regions: a third of the streams on each region's Edge (the
    // warm-up's stream of each region may still be counted, and once more
    // when it was renewed: a gone client counts until a write to it fails),
    // each event
    // delivered on each of them, and the Hub pushed every write to each Edge
    // (at least once each).
    for (const r of fanout.filter((x) => x.edgeCount === 3)) {
      const what = `${r.label}, ${r.trigger}`;
      assert.deepEqual(r.edges.map((e) => e.name).sort(), ['edge:apac:0', 'edge:enam:0', 'edge:weur:0'], what);
      for (const e of r.edges) {
        assert.ok(e.subscribers >= Math.floor(STREAMS / 3) && e.subscribers <= Math.ceil(STREAMS / 3) + 2, `${what}: ${e.name} has ${e.subscribers} subscribers`);
      }
      for (const region of ['weur', 'enam', 'apac']) {
        assert.ok(r.perRegion[region].n >= Math.floor(STREAMS / 3) * EVENTS, `${what}: receipts in ${region}: ${JSON.stringify(r.perRegion[region])}`);
      }
      assert.ok(r.hubDuring.pushes >= 3 * EVENTS, `${what}: pushes ${JSON.stringify(r.hubDuring)}`);
    }
    // Every runtime stream is renewed at least once in 6 events (at most 4
    // writes, the preamble one of them); the floor and the peer never renew.
    const renewals = (system, trigger, edges = 1) => fanout.find((r) => r.system === system && r.trigger === trigger && (r.edgeCount ?? 1) === edges).resumes;
    assert.ok(renewals('runtime', 'invalidate') >= STREAMS, `renewals followed: ${renewals('runtime', 'invalidate')}`);
    assert.ok(renewals('runtime', 'invalidate', 3) >= STREAMS, `renewals followed, 3 Edges: ${renewals('runtime', 'invalidate', 3)}`);
    assert.equal(renewals('floor', 'invalidate'), 0);
    assert.equal(renewals('peer', 'invalidate'), 0);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
