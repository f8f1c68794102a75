// `--perf`: a CPU profile of the system's processes while the events of a
// row go out, with `perf` (Debian's linux-perf), for the work on the Hub
// (issue 8, point 3). Writes <base>.perf.data and <base>.perf.txt (perf
// report by process, library and symbol).
//
// workerd runs JavaScript and wasm as JIT code, which perf can name only
// when V8 writes a perf map (--perf-basic-prof), and Miniflare has no way to
// pass V8 flags: the profile names workerd's and the kernel's own code (V8
// runtime and GC, kj I/O and streams, sockets) and shows the JIT share as
// one lump ("[JIT] tid <pid>"). That split alone says whether an event
// costs JS, runtime machinery, or system calls.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { sleep } from './clock.mjs';

export const PERF = '/usr/bin/perf';

/** Starts `perf record` on these pids; returns {stop(): Promise<{data, report}>}. */
export function startPerf(pids, base) {
  if (!existsSync(PERF)) throw new Error(`${PERF} is missing (Debian's linux-perf)`);
  const data = `${base}.perf.data`;
  const child = spawn(PERF, ['record', '-F', '499', '-g', '-o', data, '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    async stop() {
      try { process.kill(child.pid, 'SIGINT'); } catch { /* gone */ }
      const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!done) { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }
      const report = `${base}.perf.txt`;
      const byDso = await perfReport(data, ['--sort', 'comm,dso']);
      const bySym = await perfReport(data, ['--sort', 'comm,dso,sym', '--percent-limit', '0.3']);
      // C++ template symbols run to thousands of characters: cut the lines.
      const cut = (t) => t.split('\n').map((l) => (l.length > 240 ? `${l.slice(0, 237)}...` : l)).join('\n');
      const text = `# perf record -F 499 -g -p ${pids.join(',')}${err.includes('rror') ? `\n# perf said: ${err}` : ''}\n\n`
        + `## by process and shared object\n\n${cut(byDso)}\n\n## by symbol (>= 0.3 %)\n\n${cut(bySym)}\n`;
      writeFileSync(report, text);
      return { data, report };
    },
  };
}

function perfReport(data, sort) {
  return new Promise((resolve) => {
    const r = spawn(PERF, ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', ...sort], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    r.stdout.on('data', (d) => { out += d; });
    r.stderr.on('data', () => {});
    const timer = setTimeout(() => r.kill('SIGKILL'), 120_000);
    r.on('exit', () => { clearTimeout(timer); resolve(out.split('\n').filter((l) => !/^# (To display|\.{3})/.test(l)).join('\n')); });
    r.on('error', (e) => { clearTimeout(timer); resolve(`perf report failed: ${e.message}`); });
  });
}
