/**
 * Terminal output for the CLI: tables, JSON, a progress spinner for long work, and the one-line
 * error format (`error: <detail> [<code>]`).
 */
import { ApiError } from './client.ts';
import { IgnitionError } from '../errors.ts';

export function printJson(value: unknown) {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n') + '\n';
}

/** A spinner on a TTY, plain step lines elsewhere (CI logs stay readable). */
export function progress(label: string) {
  const tty = process.stderr.isTTY;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let i = 0;
  let text = label;
  const started = Date.now();
  const timer = tty ? setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${text}\x1b[K`), 80) : undefined;
  if (!tty) process.stderr.write(`${label}…\n`);
  return {
    update(next: string) {
      text = next;
      if (!tty) process.stderr.write(`${next}…\n`);
    },
    done(final?: string) {
      if (timer) clearInterval(timer);
      if (tty) process.stderr.write('\r\x1b[K');
      if (final) process.stderr.write(`${final} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
    },
  };
}

/** Formats any error as one line; API problems keep their code. */
export function errorLine(err: unknown): string {
  if (err instanceof ApiError) return `error: ${err.problem.detail} [${err.problem.code}]`;
  if (err instanceof IgnitionError) return `error: ${err.message} [${err.code}]`;
  return `error: ${(err as Error)?.message ?? String(err)}`;
}
