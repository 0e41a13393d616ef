/**
 * The one-pass import loop of the blob store: every chunk is hashed and written in the same pass,
 * and runs of zero bytes are skipped with a positional write instead of written, so they stay
 * holes in the temp file (a 128 MiB memory file of a fresh VM is mostly zeros).
 *
 * Skipping zeros is always correct, whatever the alignment: the temp file is new, every region
 * is written at most once, and a region never written reads back as zeros. Alignment only decides
 * how many whole filesystem blocks end up unallocated, so zero detection works on 4 KiB blocks of
 * the absolute file offset.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

const BLOCK = 4096;
const ZERO = Buffer.alloc(BLOCK);
/** Writes larger than this are split so one huge chunk does not hold a giant pending write. */
const MAX_WRITE = 4 * 1024 * 1024;

function isZero(buf: Buffer, start: number, end: number): boolean {
  // Fast exit on the first and last byte: random or code pages almost never start with zero runs.
  if (buf[start] !== 0 || buf[end - 1] !== 0) return false;
  return buf.compare(ZERO, 0, end - start, start, end) === 0;
}

export interface WriteResult {
  hex: string;
  size: number;
}

/**
 * Reads `source` to its end, hashing and writing into `fh` (a fresh, empty file). Returns the
 * SHA-256 in hex and the byte count. `onBytes` is called with each chunk's length (progress).
 * The file is extended to its full size at the end, so trailing zeros are a hole too.
 */
export async function hashAndWrite(source: AsyncIterable<Buffer | Uint8Array | string>, fh: FileHandle, onBytes?: (n: number) => void): Promise<WriteResult> {
  const hash = createHash('sha256');
  let pos = 0;
  // One chunk's writes stay in flight while the next chunk is read and hashed.
  let inflight: Promise<unknown> = Promise.resolve();
  try {
    for await (const raw of source) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      if (chunk.length === 0) continue;
      hash.update(chunk);
      const writes: Promise<unknown>[] = [];
      let runStart = -1;
      const flush = (from: number, to: number) => {
        for (let s = from; s < to; s += MAX_WRITE) {
          const e = Math.min(to, s + MAX_WRITE);
          writes.push(writeFully(fh, chunk, s, e - s, pos + s));
        }
      };
      let i = 0;
      while (i < chunk.length) {
        const end = Math.min(chunk.length, i + (BLOCK - ((pos + i) % BLOCK)));
        if (isZero(chunk, i, end)) {
          if (runStart >= 0) flush(runStart, i);
          runStart = -1;
        } else if (runStart < 0) {
          runStart = i;
        }
        i = end;
      }
      if (runStart >= 0) flush(runStart, chunk.length);
      // Marked handled at once: it is awaited only after the next read, which may take ticks.
      const current = Promise.all(writes);
      current.catch(() => {});
      const previous = inflight;
      inflight = current;
      await previous;
      pos += chunk.length;
      onBytes?.(chunk.length);
    }
    await inflight;
  } finally {
    // On a failed read, let pending writes settle before the caller closes and unlinks the file.
    await inflight.catch(() => {});
  }
  await fh.truncate(pos);
  return { hex: hash.digest('hex'), size: pos };
}

async function writeFully(fh: FileHandle, buf: Buffer, offset: number, length: number, position: number): Promise<void> {
  while (length > 0) {
    const { bytesWritten } = await fh.write(buf, offset, length, position);
    offset += bytesWritten;
    length -= bytesWritten;
    position += bytesWritten;
  }
}

/** Splits a buffer into chunks so its writes overlap like a stream's. */
export function* chunksOf(buf: Buffer, size = 1024 * 1024): Generator<Buffer> {
  for (let s = 0; s < buf.length; s += size) yield buf.subarray(s, Math.min(buf.length, s + size));
}

/**
 * Reads a file in `size` chunks with `depth` reads in flight, so the disk (or page cache copy in
 * the thread pool) works while the main thread hashes. A plain read stream keeps one read in
 * flight, so the disk and the hash take turns.
 */
export async function* readFileChunks(file: string, size = 1024 * 1024, depth = 6): AsyncGenerator<Buffer> {
  const fh = await open(file, 'r');
  const queue: Promise<Buffer>[] = [];
  try {
    const total = (await fh.stat()).size;
    let next = 0;
    const issue = () => {
      if (next >= total) return;
      const at = next;
      const n = Math.min(size, total - at);
      next += n;
      const p = (async () => {
        const buf = Buffer.allocUnsafe(n);
        let off = 0;
        while (off < n) {
          const { bytesRead } = await fh.read(buf, off, n - off, at + off);
          if (bytesRead === 0) throw new Error(`${file} shrank while being read`);
          off += bytesRead;
        }
        return buf;
      })();
      p.catch(() => {}); // awaited in order below; marked handled so an early failure is not "unhandled"
      queue.push(p);
    };
    for (let i = 0; i < depth; i++) issue();
    while (queue.length) {
      const buf = await queue.shift()!;
      issue();
      yield buf;
    }
  } finally {
    await Promise.allSettled(queue);
    await fh.close();
  }
}
