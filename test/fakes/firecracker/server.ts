/**
 * Assembles one fake Firecracker process: the micro-http imitation on the API socket, the VMM
 * state machine behind it, the request trace and the Firecracker-style log. Used by bin.ts (the
 * spawned `firecracker` stand-in) and directly in-process by the wire-level tests.
 *
 * Environment knobs:
 *  - IGNITION_FC_TRACE=<file>: append every request as one JSON line `{method, path, body}`; the
 *    spawned fake (bin.ts) adds `netns`, its network namespace as /proc/self/ns/net names it
 *    (`net:[<inode>]`), so a test can tell which namespace each VMM ran in;
 *  - IGNITION_FC_FAKE_DELAY=instant|realistic (default instant): answer at once, or with delays of
 *    the order Firecracker shows (API calls, guest boot, snapshot create/load);
 *  - IGNITION_FC_FAKE_FAULT=no-socket|exit-on-start|hang-on-start|exit-on-load: fault injection for
 *    the driver's failure tests (never bind the API socket; die or hang when `InstanceStart` or
 *    `/snapshot/load` arrives);
 *  - IGNITION_FC_FAKE_AGENT=<file>: a different agent script (default <repo>/dist/agent.mjs).
 */
import { appendFileSync, closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHttpServer, type FakeHttpServer, type RawRequest } from './http.ts';
import { FakeLog, osError } from './logger.ts';
import { dispatch } from './routes.ts';
import { FakeVmm, INSTANT, REALISTIC, type Delays } from './vmm.ts';

export interface FakeOptions {
  apiSock: string;
  id?: string;
  cwd?: string;
  logPath?: string;
  level?: string;
  metricsPath?: string;
  maxPayload?: number;
  traceFile?: string;
  /** Written into every trace line when set: the network namespace the fake runs in. */
  netns?: string;
  delays?: Delays;
  fault?: string;
  /** How the process ends (bin.ts: process.exit). In-process tests get a callback. */
  exit?: (code: number, reason: string) => void;
  /** Sees every byte clients send. */
  onBytes?: (chunk: Buffer) => void;
}

export interface RunningFake {
  vmm: FakeVmm;
  http: FakeHttpServer;
  close(): Promise<void>;
}

/** Start-up failed before the API socket was bound (the log or metrics file cannot be opened). */
export class StartupError extends Error {}

/** Starts a fake Firecracker on `apiSock`; rejects when the socket path is taken. */
export async function startFake(options: FakeOptions): Promise<RunningFake> {
  const id = options.id ?? 'anonymous-instance';
  // Relative paths resolve against the working directory at the time of use, as Firecracker's
  // own open() calls do: a spare VMM's directory is renamed after start (see spares.ts).
  const cwd = options.cwd;
  const resolve = (p: string) => (cwd ? path.resolve(cwd, p) : p);
  // Like Firecracker, both files are opened (and created) at start-up, before the API exists, and
  // a file that cannot be opened ends the process. The log keeps its descriptor, so a renamed
  // workspace keeps receiving lines.
  const logger = new FakeLog(id, resolve);
  try {
    logger.update({ log_path: options.logPath, level: options.level });
  } catch (err) {
    throw new StartupError(`Could not initialize logger: Failed to open target file: ${osError(err)}`);
  }
  try {
    if (options.metricsPath) closeSync(openSync(resolve(options.metricsPath), constants.O_RDWR | constants.O_CREAT));
  } catch (err) {
    logger.close();
    throw new StartupError(`Cannot initialize the metrics system due to bad user input: ${osError(err)}`);
  }
  reapStalePrivateDirs();
  const privateDir = mkdtempSync(path.join(os.tmpdir(), `fcfake-${process.pid}-`));
  const log = (lvl: string, message: string) => logger.write(lvl, message);
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let http: FakeHttpServer | undefined;
  const vmm: FakeVmm = new FakeVmm({
    id,
    cwd,
    privateDir,
    delays: options.delays ?? INSTANT,
    log,
    configureLogger: (c) => logger.update(c),
    metricsPath: options.metricsPath,
    console: (line) => process.stdout.write(`${line}\n`),
    exit: (code, reason) => {
      log(code === 0 ? 'INFO' : 'ERROR', `Firecracker exiting: ${reason}`);
      logger.close();
      vmm.cleanup();
      void http?.close();
      exit(code, reason);
    },
  });

  async function handle(req: RawRequest) {
    const text = req.body?.toString('utf8');
    if (options.traceFile) {
      let body: unknown = null;
      if (text !== undefined) {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const where = options.netns ? { netns: options.netns } : {};
      appendFileSync(options.traceFile, JSON.stringify({ method: req.method, path: req.path, body, ...where }) + '\n');
    }
    const verb = req.method[0] + req.method.slice(1).toLowerCase();
    log('INFO', `The API server received a ${verb} request on "${req.path}"${text ? ` with body ${JSON.stringify(text)}` : ''}.`);
    const when = req.path === '/snapshot/load' ? 'load' : req.path === '/actions' && text?.includes('InstanceStart') ? 'start' : undefined;
    if (options.fault && when && options.fault === `exit-on-${when}`) {
      // Dies without answering, like a VMM that crashed mid-call.
      vmm.shutdown();
      vmm.cleanup();
      exit(101, `fault injected: ${options.fault}`);
      return new Promise<never>(() => undefined);
    }
    if (options.fault && when && options.fault === `hang-on-${when}`) return new Promise<never>(() => undefined);
    return dispatch(vmm, req);
  }

  // Requests the transport refuses (bad method, overlong line, oversized body) are traced too.
  const onRejected = (method: string, path: string, message: string) => {
    if (!options.traceFile) return;
    const where = options.netns ? { netns: options.netns } : {};
    appendFileSync(options.traceFile, JSON.stringify({ method, path, body: null, rejected: message, ...where }) + '\n');
  };
  http = await startHttpServer(options.apiSock, { maxPayload: options.maxPayload ?? 51200, handle, onBytes: options.onBytes, onRejected }).catch((err) => {
    logger.close();
    vmm.cleanup();
    throw err;
  });
  log('INFO', `Running Firecracker v${vmm.version}`);
  return {
    vmm,
    http: http!,
    async close() {
      vmm.shutdown();
      vmm.cleanup();
      logger.close();
      await http!.close();
    },
  };
}

/**
 * A fake killed with SIGKILL (as the driver's last resort does) cannot remove its private
 * directory; the next fake to start removes those whose process is gone.
 */
function reapStalePrivateDirs(): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^fcfake-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
  }
}

export function delaysFromEnv(value = process.env.IGNITION_FC_FAKE_DELAY): Delays {
  return value === 'realistic' ? REALISTIC : INSTANT;
}
