/**
 * Structured logs, one record per line on stderr, with the ids that tie a line to a function,
 * version, instance or invocation. A child logger carries its fields into every line it writes.
 *
 * Two formats: `json` (one object a line, for collectors and anything reading a pipe) and `text`
 * (`HH:MM:SS.mmm LEVEL message key=value…`, for a person at a terminal). `ignition daemon` picks
 * one for every line it prints (platform/cli/commands/daemon.ts); the default is `json`.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(options: { level?: Level; write?: (line: string) => void; fields?: Record<string, unknown>; format?: LogFormat } = {}): Logger {
  const min = order[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.fields ?? {};
  const format = options.format ?? 'json';
  const log = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    write(formatRecord(format, level, msg, { ...base, ...fields }));
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** One record as a line (with its newline) in `format`. */
export function formatRecord(format: LogFormat, level: Level, msg: string, fields: Record<string, unknown> = {}, now = new Date()): string {
  if (format === 'json') return JSON.stringify({ time: now.toISOString(), level, msg, ...fields }, errorReplacer) + '\n';
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds(), 3)}`;
  const pairs = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${textValue(v)}`)
    .join('');
  return `${time} ${level.toUpperCase().padEnd(5)} ${msg}${pairs}\n`;
}

/** `auto` is text for a person (every stream the daemon writes to is a terminal), JSON otherwise. */
export function resolveLogFormat(choice: LogFormat | 'auto', streams: Array<{ isTTY?: boolean }> = [process.stdout, process.stderr]): LogFormat {
  if (choice !== 'auto') return choice;
  return streams.every((s) => s.isTTY === true) ? 'text' : 'json';
}

/** A logger that drops everything (the default collaborator in tests and libraries). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };

function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: string }).code };
  return value;
}

/** A field's value in a text line: bare when that cannot be misread, JSON otherwise. */
function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v, errorReplacer) ?? String(v);
}
