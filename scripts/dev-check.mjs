// `make dev`'s first look at the Worker it started: polls /api/health
// (at most 90 s) and says in one line that it is up, in which mode, or,
// when a setting is wrong (a route table with an error, say), which one and
// why, since every request would answer that error. Exits when it has said
// so, or when the Worker never answered.
import { setTimeout as sleep } from 'node:timers/promises';

const port = process.argv[2] ?? '8787';
const url = `http://127.0.0.1:${port}/api/health`;
const deadline = Date.now() + 90_000;
while (Date.now() < deadline) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      console.log(`dev: up on http://127.0.0.1:${port} (${body.mode ?? 'd1'} mode, ${body.backend} backend, instance ${body.instance})`);
    } else {
      const error = body.error ?? {};
      console.error(`\ndev: the Worker answers every request ${res.status} ${error.code ?? ''}: ${error.message ?? JSON.stringify(body)}\n`
        + 'dev: fix the setting in .dev.vars (or wrangler.toml); wrangler dev reloads it.\n');
    }
    process.exit(0);
  } catch { /* not up yet */ }
  await sleep(500);
}
console.error(`dev: the Worker did not answer ${url} within 90 s`);
