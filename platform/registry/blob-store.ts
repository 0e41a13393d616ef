/**
 * The content-addressed blob store: `<root>/sha256/<first 2 hex>/<64 hex>`, one file per distinct
 * content, read-only (0444) once published, so a memory file can be mapped copy-on-write by every
 * clone without anyone changing it underneath.
 *
 * Import copies into `<root>/tmp/<pid>.<random>.part` on the same filesystem, hashing on the way
 * (in one pass on this thread, see blob-writer.ts; large files on a worker thread that hashes the
 * copy while the fsync runs, see import-worker.ts), then fsync, rename and fsync of the directory:
 * a blob path either does not exist or holds the whole, durable content. A process killed
 * mid-import leaves only a temp file carrying its pid; `sweepTemps()` removes the ones whose
 * process is gone.
 *
 * The store knows nothing of snapshots. Who may delete what (pins, references) is decided in
 * registry.ts and gc.ts; `delete` here is the bare unlink.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, stat as statAsync, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { assertDigest, digestHex, type Digest } from './digest.ts';
import { chunksOf, hashAndWrite, readFileChunks } from './blob-writer.ts';
import { copyAndHash } from './import-worker.ts';
import { RegistryBlobNotFound, RegistryDigestMismatch, RegistryDiskFull, RegistryIoError } from './errors.ts';

/** What an import produced. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface BlobStat extends BlobInfo {
  /** Bytes actually allocated on disk (holes excluded). */
  diskBytes: number;
  mode: number;
}

export interface ImportOptions {
  /** Reject (and drop) the content unless it hashes to this digest. Used by pull and layout import. */
  expectedDigest?: Digest;
  /** Progress: called with the length of each chunk as it is copied. */
  onBytes?: (n: number) => void;
  /**
   * `importFile` only: copy and hash on a worker thread, the hash overlapping the fsync (true), or
   * hash and copy on this thread in one pass (false). Default: the worker for regular files of
   * `WORKER_MIN_BYTES` or more (see import-worker.ts).
   */
  worker?: boolean;
  /**
   * Called with the digest after hashing, before the blob is published or deduplicated. The
   * registry pins the digest here so a concurrent GC cannot remove it before the snapshot row
   * that refers to it is committed.
   */
  beforePublish?: (digest: Digest) => void;
}

/** From this size on, `importFile` copies and hashes on a worker thread (see ImportOptions.worker). */
export const WORKER_MIN_BYTES = 16 * 1024 * 1024;

/** Temp files this process is writing; `sweepTemps` never touches them. */
const activeTemps = new Set<string>();

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A source file that cannot be read (stat or open failed). */
function unreadable(srcPath: string, err: unknown) {
  return RegistryIoError(`cannot read ${srcPath} to import it: ${(err as Error).message}`, { cause: err, data: { path: srcPath } });
}

function ioError(err: unknown, what: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return RegistryDiskFull(`no space left on the blob store while ${what}`, { cause: err });
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string' && e.code.startsWith('registry_')) return e;
  return RegistryIoError(`${what} failed: ${e?.message ?? String(err)}`, { cause: err });
}

export class BlobStore {
  /** Directory holding the store (`sha256/` and `tmp/` inside). */
  readonly root: string;
  private readonly blobDir: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.blobDir = path.join(this.root, 'sha256');
    this.tmpDir = path.join(this.root, 'tmp');
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
  }

  /** The file of a blob (it may not exist; see `has`). Throws on a malformed digest. */
  path(digest: string): string {
    const hex = digestHex(assertDigest(digest));
    return path.join(this.blobDir, hex.slice(0, 2), hex);
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  /** Size and allocated bytes of a blob, or null when it is absent. */
  stat(digest: string): BlobStat | null {
    const p = this.path(digest);
    try {
      const st = statSync(p);
      return { digest: digest as Digest, size: st.size, diskBytes: st.blocks * 512, mode: st.mode & 0o7777 };
    } catch {
      return null;
    }
  }

  /** A read stream over a blob; throws `registry_blob_not_found` when it is absent. */
  read(digest: string, options: { start?: number; end?: number } = {}): Readable {
    const p = this.path(digest);
    if (!existsSync(p)) throw RegistryBlobNotFound(`blob ${digest} is not in the store at ${this.root}`, { data: { digest } });
    return createReadStream(p, { highWaterMark: 1024 * 1024, ...options });
  }

  /** Every digest present on disk (a directory walk; no database involved). */
  *list(): Generator<Digest> {
    for (const prefix of safeReaddir(this.blobDir)) {
      if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
      for (const name of safeReaddir(path.join(this.blobDir, prefix))) {
        if (/^[0-9a-f]{64}$/.test(name) && name.startsWith(prefix)) yield `sha256:${name}`;
      }
    }
  }

  /** Removes a blob. Only GC calls this, after checking references and pins. */
  delete(digest: string): boolean {
    try {
      unlinkSync(this.path(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError(err, `deleting blob ${digest}`);
    }
  }

  async importFile(srcPath: string, options: ImportOptions = {}): Promise<BlobInfo> {
    let st;
    try {
      st = await statAsync(srcPath);
    } catch (err) {
      throw unreadable(srcPath, err);
    }
    // Prefetching positional reads need a size; pipes and devices are read as a stream to EOF.
    if (!st.isFile()) return this.importStream(createReadStream(srcPath, { highWaterMark: 1024 * 1024 }), options);
    if (!(options.worker ?? st.size >= WORKER_MIN_BYTES)) return this.importWith((fh) => hashAndWrite(readFileChunks(srcPath), fh, options.onBytes), options);
    let src: FileHandle;
    try {
      src = await open(srcPath, 'r');
    } catch (err) {
      throw unreadable(srcPath, err);
    }
    try {
      // The size of the file opened: the worker copies exactly that much and fails if it shrinks.
      const { size } = await src.stat();
      return await this.importWith(async (fh) => {
        const job = copyAndHash(src.fd, fh.fd, size, options.onBytes);
        await job.copied;
        return { hex: job.hex, size };
      }, options);
    } finally {
      await src.close();
    }
  }

  async importBuffer(buf: Buffer | Uint8Array, options: ImportOptions = {}): Promise<BlobInfo> {
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    return this.importStream(chunksOf(b), options);
  }

  /** Imports everything `source` yields; a Readable source is destroyed when the import fails. */
  async importStream(source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer>, options: ImportOptions = {}): Promise<BlobInfo> {
    return this.importWith((fh) => hashAndWrite(toAsync(source), fh, options.onBytes), options);
  }

  /**
   * The import around a copy: `write` fills the temp file (open for reading and writing) and
   * returns its size and digest, the digest possibly still being computed; the fsync runs
   * meanwhile. Then the digest check, `beforePublish`, and the atomic publish.
   */
  private async importWith(write: (fh: FileHandle) => Promise<{ hex: string | Promise<string>; size: number }>, options: ImportOptions): Promise<BlobInfo> {
    const tmp = path.join(this.tmpDir, `${process.pid}.${randomBytes(8).toString('hex')}.part`);
    activeTemps.add(tmp);
    let published = false;
    try {
      const fh = await open(tmp, 'wx+', 0o644).catch((err) => {
        throw ioError(err, `creating a temp file in ${this.tmpDir}`);
      });
      let result;
      try {
        const written = await write(fh);
        // Both settle before the file is closed: a digest still being computed reads through fh.
        const [hex, synced] = await Promise.allSettled([written.hex, fh.chmod(0o444).then(() => fh.sync())]);
        if (synced.status === 'rejected') throw synced.reason;
        if (hex.status === 'rejected') throw hex.reason;
        result = { hex: hex.value, size: written.size };
      } catch (err) {
        throw ioError(err, 'writing a blob');
      } finally {
        await fh.close().catch(() => {});
      }
      const digest = `sha256:${result.hex}` as Digest;
      if (options.expectedDigest && options.expectedDigest !== digest) {
        throw RegistryDigestMismatch(`content announced as ${options.expectedDigest} hashes to ${digest}`, {
          data: { expected: options.expectedDigest, actual: digest, size: result.size },
        });
      }
      options.beforePublish?.(digest);
      await this.publish(tmp, digest, result.size);
      published = true;
      return { digest, size: result.size };
    } finally {
      activeTemps.delete(tmp);
      if (!published) await unlink(tmp).catch(() => {});
    }
  }

  private async publish(tmp: string, digest: Digest, size: number): Promise<void> {
    const final = this.path(digest);
    const dir = path.dirname(final);
    try {
      if (!existsSync(dir)) {
        await mkdir(dir, { recursive: true });
        await fsyncDir(this.blobDir);
      }
      const existing = this.stat(digest);
      // Identical content is stored once. A present blob of the wrong size is damaged: replace it.
      if (existing && existing.size === size) {
        await unlink(tmp);
        return;
      }
      await rename(tmp, final);
      await fsyncDir(dir);
    } catch (err) {
      throw ioError(err, `publishing blob ${digest}`);
    }
  }

  /**
   * Removes temp files left by processes that no longer run (a crash or kill mid-import), and
   * this process's own temps that no import is writing. Returns how many were removed.
   */
  sweepTemps(): number {
    let removed = 0;
    for (const name of safeReaddir(this.tmpDir)) {
      const p = path.join(this.tmpDir, name);
      const pid = Number(name.split('.')[0]);
      const live = Number.isInteger(pid) && pid > 0 && pidAlive(pid) && (pid !== process.pid || activeTemps.has(p));
      if (live) continue;
      try {
        unlinkSync(p);
        removed++;
      } catch {
        // Raced with its own cleanup: fine.
      }
    }
    return removed;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function* toAsync(source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer>): AsyncGenerator<Buffer | Uint8Array | string> {
  yield* source as AsyncIterable<Buffer>;
}
