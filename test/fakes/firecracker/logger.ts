/**
 * The fake Firecracker's log, configured the way Firecracker 1.16.1 configures its own: by
 * `--log-path`/`--level` at start-up and by any number of `PUT /logger` calls before boot. Each
 * configuration opens its file first (created if missing, not truncated, not appended: writes start
 * at offset 0, as Firecracker's read-write open does) and only then changes anything; an omitted
 * level means Info again, other omitted fields keep their value. Without a file nothing is written
 * (Firecracker would write to stdout, which the driver captures as the guest console).
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';

const LEVELS = ['off', 'error', 'warn', 'info', 'debug', 'trace'];
const INFO = LEVELS.indexOf('info');

export interface LoggerConfig {
  log_path?: string;
  level?: string;
  show_level?: boolean;
  show_log_origin?: boolean;
  module?: string;
}

/** A level's rank, read as Firecracker reads it: any letter case, "warn" or "warning"; -1 if unknown. */
export function levelRank(level: string): number {
  const l = level.toLowerCase();
  return LEVELS.indexOf(l === 'warning' ? 'warn' : l);
}

/** libuv words some errors differently from strerror; Firecracker prints Rust's io::Error. */
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
};

/** An open() failure as Rust displays it: "No such file or directory (os error 2)". */
export function osError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = (e.code && STRERROR[e.code]) ?? e.message;
  return e.errno === undefined ? text : `${text} (os error ${Math.abs(e.errno)})`;
}

export class FakeLog {
  #fd: number | undefined;
  #rank = INFO;
  #showLevel = false;

  constructor(
    private readonly id: string,
    /** Resolves a configured path the way the fake resolves every API path. */
    private readonly resolve: (p: string) => string,
  ) {}

  /** Applies one configuration; throws (changing nothing) when the file cannot be opened. */
  update(c: LoggerConfig): void {
    const fd = c.log_path === undefined ? undefined : openSync(this.resolve(c.log_path), constants.O_RDWR | constants.O_CREAT | constants.O_NONBLOCK);
    this.#rank = c.level === undefined ? INFO : levelRank(c.level);
    if (fd !== undefined) {
      if (this.#fd !== undefined) closeSync(this.#fd);
      this.#fd = fd;
    }
    if (c.show_level !== undefined) this.#showLevel = c.show_level;
  }

  write(level: string, message: string): void {
    const rank = levelRank(level);
    if (this.#fd === undefined || rank <= 0 || rank > this.#rank) return;
    const shown = this.#showLevel ? `:${level.toUpperCase()}` : '';
    writeSync(this.#fd, `${new Date().toISOString()} [${this.id}:fc_api${shown}] ${message}\n`);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
