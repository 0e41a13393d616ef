/**
 * A small streaming tar (POSIX ustar) writer and reader, enough for OCI image layouts: regular
 * files and directories, sizes past 8 GiB in the base-256 form GNU and BSD tar read, and on the
 * reading side pax (`x`) and GNU long-name (`L`) records that other tools emit for long paths.
 */
import { Readable } from 'node:stream';

const BLOCK = 512;

function writeString(buf: Buffer, s: string, off: number, len: number): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new Error(`tar field "${s}" is longer than ${len} bytes`);
  b.copy(buf, off);
}

function writeOctal(buf: Buffer, n: number, off: number, len: number): void {
  const s = n.toString(8);
  if (s.length <= len - 1) {
    writeString(buf, s.padStart(len - 1, '0'), off, len - 1);
    buf[off + len - 1] = 0;
    return;
  }
  // Base-256: high bit set on the first byte, the number big-endian in the rest.
  let v = BigInt(n);
  for (let i = off + len - 1; i > off; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = 0x80;
}

/** One 512-byte ustar header. */
export function tarHeader(name: string, size: number, type: 'file' | 'dir', mtime = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar path ${name} is too long for ustar`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  writeString(h, base, 0, 100);
  writeOctal(h, type === 'dir' ? 0o755 : 0o644, 100, 8);
  writeOctal(h, 0, 108, 8);
  writeOctal(h, 0, 116, 8);
  writeOctal(h, type === 'dir' ? 0 : size, 124, 12);
  writeOctal(h, mtime, 136, 12);
  h.fill(0x20, 148, 156);
  h[156] = type === 'dir' ? 0x35 : 0x30;
  writeString(h, 'ustar\0', 257, 6);
  writeString(h, '00', 263, 2);
  writeString(h, prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  writeString(h, sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export interface TarEntryInput {
  name: string;
  type?: 'file' | 'dir';
  size?: number;
  /** The content; its length must equal `size`. */
  body?: () => AsyncIterable<Buffer> | Iterable<Buffer>;
}

/** Streams a tar archive of `entries` (generated lazily, so blobs are read one at a time). */
export async function* tarStream(entries: Iterable<TarEntryInput>): AsyncGenerator<Buffer> {
  const mtime = Math.floor(Date.now() / 1000);
  for (const e of entries) {
    const type = e.type ?? 'file';
    const size = type === 'dir' ? 0 : (e.size ?? 0);
    yield tarHeader(e.name, size, type, mtime);
    if (type === 'dir') continue;
    let written = 0;
    for await (const chunk of e.body ? e.body() : []) {
      written += chunk.length;
      yield chunk;
    }
    if (written !== size) throw new Error(`tar entry ${e.name} announced ${size} bytes but produced ${written}`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2);
}

/** A pull-based byte reader over an async iterable of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;
  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = source[Symbol.asyncIterator]();
  }
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, Buffer.from(r.value)]) : Buffer.from(r.value);
    }
    return this.buf.length >= n;
  }
  /** Exactly n bytes, or null at a clean end of input. */
  async read(n: number): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      if (this.buf.length === 0) return null;
      throw new Error('tar archive is truncated');
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Yields exactly n bytes in chunks as they arrive. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw new Error('tar archive is truncated');
      const take = Math.min(n, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      n -= take;
      yield out;
    }
  }
  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n));
  }
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

function readString(h: Buffer, off: number, len: number): string {
  const slice = h.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function readNumber(h: Buffer, off: number, len: number): number {
  if (h[off] & 0x80) {
    let v = 0n;
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(h[i]);
    return Number(v);
  }
  const s = readString(h, off, len).trim();
  return s ? parseInt(s, 8) : 0;
}

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
  /** The content; must be consumed (or left alone: the reader skips what is not read). */
  body: AsyncGenerator<Buffer>;
}

/** Parses a tar stream entry by entry. Paths are returned as written (caller validates them). */
export async function* tarEntries(source: AsyncIterable<Buffer | Uint8Array | string> | Readable): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source as AsyncIterable<Buffer>);
  let longName: string | null = null;
  try {
    for (;;) {
      const h = await r.read(BLOCK);
      if (!h || h.every((b) => b === 0)) return;
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
      if (sum !== readNumber(h, 148, 8)) throw new Error('tar header checksum mismatch (not a tar file, or corrupted)');
      const size = readNumber(h, 124, 12);
      const flag = String.fromCharCode(h[156] || 0x30);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (flag === 'x' || flag === 'L') {
        const meta = Buffer.concat(await collect(r.stream(size))).toString('utf8');
        await r.skip(pad);
        if (flag === 'L') longName = meta.replace(/\0.*$/s, '');
        else {
          const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(meta);
          if (m) longName = m[1];
        }
        continue;
      }
      const prefix = readString(h, 345, 155);
      const name = longName ?? (prefix ? `${prefix}/${readString(h, 0, 100)}` : readString(h, 0, 100));
      longName = null;
      const type = flag === '0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : 'other';
      let consumed = 0;
      const body = (async function* () {
        for await (const c of r.stream(size)) {
          consumed += c.length;
          yield c;
        }
      })();
      yield { name, type, size: type === 'dir' ? 0 : size, body };
      // Whatever the consumer left unread is skipped here.
      if (consumed < size) {
        await body.return(undefined);
        await r.skip(size - consumed);
      }
      await r.skip(pad);
    }
  } finally {
    await r.close();
  }
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}
