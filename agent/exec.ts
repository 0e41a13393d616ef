/**
 * `POST /v1/exec`: runs a command in the guest and streams its output as ndjson events.
 *
 * The command runs in its own process group so a timeout can kill everything it started (a
 * runaway shell pipeline included), not just the direct child.
 */
import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import type { ExecEvent, ExecRequest } from './protocol.ts';

export function runExec(req: ExecRequest, res: ServerResponse): void {
  const started = Date.now();
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const send = (e: ExecEvent) => res.write(JSON.stringify(e) + '\n');
  let child;
  try {
    child = spawn(req.cmd, req.args ?? [], {
      cwd: req.cwd,
      env: { ...process.env, ...req.env },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    send({ type: 'error', code: 'exec_failed', message: (err as Error).message });
    res.end();
    return;
  }
  let timedOut = false;
  const timer =
    req.timeoutMs && req.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          killGroup(child.pid, 'SIGKILL');
        }, req.timeoutMs)
      : undefined;
  child.stdout.setEncoding('utf8').on('data', (data: string) => send({ type: 'stdout', data }));
  child.stderr.setEncoding('utf8').on('data', (data: string) => send({ type: 'stderr', data }));
  child.stdin.on('error', () => {});
  child.stdin.end(req.stdin ?? '');
  let spawnError: NodeJS.ErrnoException | undefined;
  child.on('error', (err: NodeJS.ErrnoException) => {
    spawnError = err;
  });
  child.on('close', (code, signal) => {
    if (timer) clearTimeout(timer);
    if (spawnError) {
      const codeName = spawnError.code === 'ENOENT' ? 'exec_not_found' : 'exec_failed';
      send({ type: 'error', code: codeName, message: `cannot run ${req.cmd}: ${spawnError.message}` });
    } else {
      send({ type: 'exit', code, signal, timedOut, durationMs: Date.now() - started });
    }
    res.end();
  });
  // The caller went away: do not leave the command running.
  res.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) killGroup(child.pid, 'SIGKILL');
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals) {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
