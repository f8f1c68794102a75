// Processes, from /proc: the tree under a pid we started (by parent pid, never
// by name), its resident memory, and its open file descriptors.
import { readdirSync, readFileSync } from 'node:fs';

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const ppid = Number(text.slice(close + 2).split(' ')[1]);
    return { pid, comm, ppid };
  } catch {
    return null; // gone meanwhile
  }
}

/** pid and every descendant of it, as [{pid, comm, ppid}]. */
export function tree(root) {
  const all = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s) all.push(s);
  }
  const out = [];
  const self = all.find((p) => p.pid === root);
  if (!self) return out;
  out.push(self);
  for (let i = 0; i < out.length; i++) {
    for (const p of all) if (p.ppid === out[i].pid) out.push(p);
  }
  return out;
}

/** CPU time (user + system) of one process in milliseconds, from /proc/<pid>/stat (0 when gone). */
export function cpuMs(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** VmRSS of one process in KiB (0 when gone). */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open file descriptors of one process (0 when gone). */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/**
 * Memory (and CPU time so far) of a set of processes: {totalKiB, cpuMs,
 * processes: [{pid, comm, rssKiB, fds, cpuMs}]}. `procs` is a list of {pid, comm}.
 */
export function memory(procs) {
  const processes = procs.map((p) => ({ pid: p.pid, comm: p.comm, rssKiB: rssKiB(p.pid), fds: fdCount(p.pid), cpuMs: cpuMs(p.pid) }));
  return {
    totalKiB: processes.reduce((n, p) => n + p.rssKiB, 0),
    cpuMs: processes.reduce((n, p) => n + p.cpuMs, 0),
    processes,
  };
}

/** The command line of one process ('' when gone). */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** 1-minute load average and the CPU count, for the report. */
export function machine() {
  let load = null;
  try { load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number); } catch { /* not Linux */ }
  return { load };
}
