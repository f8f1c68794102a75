// Running `polycache`, the native CLI (crates/cli), as a user would: a child
// process with its own XDG_CONFIG_HOME (its own token store) and none of the
// developer's POLYCACHE_* variables. The binary is built by scripts/test.sh
// before the runtime tier (debug profile); POLYCACHE_CLI_BIN overrides it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

export const CLI_BIN = process.env.POLYCACHE_CLI_BIN ?? join(ROOT, 'target', 'debug', 'polycache');
/** How long one CLI run may take before it is killed (by its pid). */
export const CLI_RUN_TIMEOUT_MS = 60_000;

/** The environment of a CLI run: this config directory, no POLYCACHE_* from the shell, then `extra`. */
export function cliEnv(configDir, extra = {}) {
  const env = { ...process.env, XDG_CONFIG_HOME: configDir, NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('POLYCACHE_')) delete env[k];
  return { ...env, ...extra };
}

/**
 * Starts `polycache ...args`; returns {child, done, out()} where done
 * resolves to {code, signal, stdout, stderr} and out() gives what arrived so
 * far. `input` is written to stdin and closed (stdin is a pipe, never a TTY).
 */
export function startCli(args, { configDir, env = {}, input = '', timeoutMs = CLI_RUN_TIMEOUT_MS } = {}) {
  const child = spawn(CLI_BIN, args, { env: cliEnv(configDir, env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdin.on('error', () => { /* exited before reading it */ });
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
  return { child, done, out: () => ({ stdout, stderr }) };
}
