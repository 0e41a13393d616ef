/**
 * Large file imports on a worker thread: the worker copies the source into the temp file with
 * plain synchronous reads and writes (256 KiB, zero blocks skipped so they stay holes), reports
 * "copied", and then hashes the temp file back from the page cache while the main thread's fsync
 * writes it to disk. The digest is of the bytes that get published, whatever the source does
 * meanwhile; the hash costs no time of its own as long as it is shorter than the fsync.
 *
 * Why this shape (docs/REGISTRY.md, "Measurements"): hashing in the copy loop puts SHA-256 on the
 * copy's path before the fsync, and an asynchronous copy on the main thread pays a thread-pool
 * round trip per chunk, which a loaded host turns into waits. A worker's synchronous loop copies
 * as fast as a plain copy, and its hash overlaps the fsync, the one long wait of an import.
 *
 * The worker never opens a file: it reads and writes through the import's own descriptors
 * (threads share the fd table), so a worker that dies or is ended cannot leak one, and the caller
 * closes them once the job has settled. Workers are pooled: a job takes an idle worker or starts
 * one (~30 ms), gives it back when it succeeds, and ends it when anything goes wrong. At most one
 * idle worker is kept, unreferenced (it never keeps the process alive), for 30 s.
 */
import { Worker } from 'node:worker_threads';

// Plain CommonJS evaluated by the worker: no file to ship beside the bundle, no loader to inherit.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readSync, writeSync, ftruncateSync } = require('node:fs');
const { createHash } = require('node:crypto');
const CHUNK = 256 * 1024; // stays in the CPU cache between the read and the write (or the hash)
const BLOCK = 4096;
const ZERO = Buffer.alloc(BLOCK);
const PROGRESS = 4 * 1024 * 1024;
const buf = Buffer.allocUnsafe(CHUNK);

function isZero(start, end) {
  return buf[start] === 0 && buf[end - 1] === 0 && buf.compare(ZERO, 0, end - start, start, end) === 0;
}
function writeAll(fd, from, to, pos) {
  while (from < to) {
    const n = writeSync(fd, buf, from, to - from, pos);
    from += n;
    pos += n;
  }
}

parentPort.on('message', ({ src, dst, size }) => {
  try {
    let pos = 0;
    let reported = 0;
    while (pos < size) {
      const want = Math.min(CHUNK, size - pos);
      for (let n = 0; n < want; ) {
        const r = readSync(src, buf, n, want - n, pos + n);
        if (r === 0) throw new Error('the source file shrank while it was being imported');
        n += r;
      }
      // Runs of non-zero 4 KiB blocks (of the absolute offset) are written; zero blocks are skipped.
      let run = -1;
      for (let i = 0; i < want; ) {
        const end = Math.min(want, i + BLOCK - ((pos + i) % BLOCK));
        if (isZero(i, end)) {
          if (run >= 0) writeAll(dst, run, i, pos + run);
          run = -1;
        } else if (run < 0) {
          run = i;
        }
        i = end;
      }
      if (run >= 0) writeAll(dst, run, want, pos + run);
      pos += want;
      if (pos - reported >= PROGRESS) {
        parentPort.postMessage({ progress: pos - reported });
        reported = pos;
      }
    }
    ftruncateSync(dst, size); // trailing zeros are a hole too
    parentPort.postMessage({ progress: size - reported, copied: true });
    const hash = createHash('sha256');
    for (let at = 0; at < size; ) {
      const n = readSync(dst, buf, 0, Math.min(CHUNK, size - at), at);
      if (n === 0) throw new Error('the temp file ended before the bytes written to it');
      hash.update(buf.subarray(0, n));
      at += n;
    }
    parentPort.postMessage({ hex: hash.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ error: { message: err.message, code: err.code } });
  }
});
`;

const IDLE_MS = 30_000;
const idle: Worker[] = [];
const busy = new Set<Worker>();
let idleTimer: NodeJS.Timeout | undefined;

/** Test hook: called with the worker of each job as the job starts (e.g. to end it mid-import). */
export const importWorkerHooks: { onJob?: (worker: Worker) => void } = {};

/** Workers running a job and workers waiting in the pool (tests check that none leaks). */
export function importWorkerStats(): { busy: number; idle: number } {
  return { busy: busy.size, idle: idle.length };
}

/** Ends the idle workers now (they would go by themselves after 30 s). */
export async function closeIdleImportWorkers(): Promise<void> {
  clearTimeout(idleTimer);
  await Promise.all(idle.splice(0).map((w) => w.terminate()));
}

function acquire(): Worker {
  let worker = idle.pop();
  if (!worker) {
    // No execArgv: a loader the parent runs under (tsx in tests) would only slow the start.
    const w = new Worker(SOURCE, { eval: true, execArgv: [] });
    w.once('exit', () => {
      busy.delete(w);
      const i = idle.indexOf(w);
      if (i >= 0) idle.splice(i, 1);
    });
    worker = w;
  }
  worker.ref();
  busy.add(worker);
  return worker;
}

function release(worker: Worker): void {
  busy.delete(worker);
  if (idle.length > 0) {
    void worker.terminate();
    return;
  }
  worker.unref();
  idle.push(worker);
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void closeIdleImportWorkers(), IDLE_MS);
  idleTimer.unref();
}

export interface ImportJob {
  /** Resolves when the temp file holds every byte (the fsync may start); rejects like `hex`. */
  copied: Promise<void>;
  /** The SHA-256 (hex) of the temp file. Settles only once the worker is done with both files. */
  hex: Promise<string>;
}

/**
 * Copies `size` bytes from the file open as `srcFd` into the empty file open as `dstFd` (readable
 * and writable) and hashes what it wrote. Errors carry the system's `code` (ENOSPC, EIO…) when
 * there is one; a worker that dies fails the job. `onBytes` gets progress in bytes copied.
 */
export function copyAndHash(srcFd: number, dstFd: number, size: number, onBytes?: (n: number) => void): ImportJob {
  const worker = acquire();
  let copiedResolve!: () => void;
  let copiedReject!: (err: unknown) => void;
  const copied = new Promise<void>((resolve, reject) => {
    copiedResolve = resolve;
    copiedReject = reject;
  });
  const hex = new Promise<string>((resolve, reject) => {
    const detach = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    // On failure the worker is ended first, so nothing touches the files once the job has settled.
    const fail = (err: unknown) => {
      detach();
      busy.delete(worker);
      const settle = () => {
        copiedReject(err);
        reject(err);
      };
      worker.terminate().then(settle, settle);
    };
    const onMessage = (m: { progress?: number; copied?: boolean; hex?: string; error?: { message: string; code?: string } }) => {
      if (m.progress) {
        try {
          onBytes?.(m.progress);
        } catch (err) {
          fail(err); // a progress callback that throws fails the import, as in the one-pass loop
          return;
        }
      }
      if (m.copied) copiedResolve();
      if (m.hex !== undefined) {
        detach();
        release(worker);
        resolve(m.hex);
      } else if (m.error) {
        fail(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
      }
    };
    const onError = (err: Error) => fail(new Error(`the import worker failed: ${err.message}`, { cause: err }));
    const onExit = (code: number) => fail(new Error(`the import worker exited (code ${code}) before the import was complete`));
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
  // Either may be left unawaited when the other fails first; the caller sees the failure once.
  copied.catch(() => {});
  hex.catch(() => {});
  importWorkerHooks.onJob?.(worker);
  worker.postMessage({ src: srcFd, dst: dstFd, size });
  return { copied, hex };
}
