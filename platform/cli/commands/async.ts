/**
 * Async invocations from the command line, each one call of the daemon's API:
 *   ignition invoke-async <fn> [--path P] [--method M] [--data D] [-H K:V] [--max-attempts N] [--idempotency-key K]
 *   ignition invocation <id>        ignition dead-letters <fn>        ignition retry <id>
 * The cron commands (./cron.ts) are registered with these.
 * Output goes through the command's context streams (not process.stdout), so tests can run the
 * commands in-process.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { table } from '../output.ts';
import { BadRequest } from '../../errors.ts';
import { cronCommands } from './cron.ts';

type Invocation = {
  id: string;
  function: string;
  kind: string;
  status: string;
  attempts: number;
  maxAttempts: number;
  request: { method: string; path: string };
  createdAt: string;
  finishedAt: string | null;
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  result: { status: number; headers: Record<string, string>; body?: string; bodyBase64?: string; size: number; truncated: boolean } | null;
};

const enc = encodeURIComponent;

function out(cmd: BaseCommand, text: string) {
  cmd.context.stdout.write(text);
}

function json(cmd: BaseCommand, value: unknown) {
  out(cmd, JSON.stringify(value, null, 2) + '\n');
}

function parseHeaders(list: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) throw BadRequest(`-H ${JSON.stringify(h)} must be NAME:VALUE`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return headers;
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw BadRequest(`${flag} must be a whole number of at least 1, not ${JSON.stringify(value)}`);
  return n;
}

export class InvokeAsyncCommand extends BaseCommand {
  static paths = [['invoke-async']];
  static usage = Command.Usage({
    description: 'Queue an asynchronous invocation of a function and print its id',
    details:
      'The daemon commits the request before answering; it runs with retries (exponential back-off) and ends up succeeded or in the dead-letter list. Follow it with `ignition invocation <id>`.',
    examples: [['Queue a POST', 'ignition invoke-async mailer --path /send --data \'{"to":"ada"}\' -H content-type:application/json']],
  });
  name = Option.String({ required: true });
  urlPath = Option.String('--path', { description: 'Path and query the function sees (default /)' });
  method = Option.String('--method,-X', { description: 'HTTP method (default GET, or POST with --data)' });
  data = Option.String('--data,-d', { description: 'Request body' });
  header = Option.Array('-H,--header', [], { description: 'K:V request header (repeatable)' });
  maxAttempts = Option.String('--max-attempts', { description: 'Attempts before the invocation is dead (default 3)' });
  key = Option.String('--idempotency-key', { description: 'Queue at most one invocation per key and function' });
  async run() {
    const res = await this.client.request<{ id: string; status: string; statusUrl: string; duplicate?: boolean }>(
      'POST',
      `/v1/functions/${enc(this.name)}/invocations`,
      {
        async: true,
        path: this.urlPath,
        method: this.method,
        headers: parseHeaders(this.header),
        body: this.data,
        maxAttempts: positiveInt(this.maxAttempts, '--max-attempts'),
        idempotencyKey: this.key,
      },
    );
    if (this.json) return json(this, res);
    out(this, `${res.id}\n`);
  }
}

export class InvocationCommand extends BaseCommand {
  static paths = [['invocation']];
  static usage = Command.Usage({ description: 'Show the status, attempts, last error and result of an invocation' });
  id = Option.String({ required: true });
  async run() {
    const inv = await this.client.request<Invocation>('GET', `/v1/invocations/${enc(this.id)}`);
    if (this.json) return json(this, inv);
    const lines = [
      `id:        ${inv.id}`,
      `function:  ${inv.function} (${inv.kind})`,
      `request:   ${inv.request.method} ${inv.request.path}`,
      `status:    ${inv.status}`,
      `attempts:  ${inv.attempts}/${inv.maxAttempts}`,
      `created:   ${inv.createdAt}`,
    ];
    if (inv.finishedAt) lines.push(`finished:  ${inv.finishedAt}`);
    if (inv.nextAttemptAt) lines.push(`next try:  ${inv.nextAttemptAt}`);
    if (inv.lastError) lines.push(`error:     ${inv.lastError.message} [${inv.lastError.code}]`);
    if (inv.result) {
      const body = inv.result.body ?? `(binary, ${inv.result.size} bytes, base64 in --json)`;
      lines.push(`response:  ${inv.result.status}${inv.result.truncated ? ` (body truncated from ${inv.result.size} bytes)` : ''}`, '', body);
    }
    out(this, lines.join('\n') + '\n');
  }
}

export class DeadLettersCommand extends BaseCommand {
  static paths = [['dead-letters']];
  static usage = Command.Usage({ description: 'List the dead (given up) async invocations of a function' });
  name = Option.String({ required: true });
  limit = Option.String('--limit', { description: 'At most this many (default 100)' });
  async run() {
    const qs = this.limit === undefined ? '' : `?limit=${positiveInt(this.limit, '--limit')}`;
    const { deadLetters } = await this.client.request<{ deadLetters: Invocation[] }>('GET', `/v1/functions/${enc(this.name)}/dead-letters${qs}`);
    if (this.json) return json(this, deadLetters);
    if (!deadLetters.length) return out(this, `No dead letters for ${this.name}.\n`);
    const rows = deadLetters.map((d) => ({
      id: d.id,
      kind: d.kind,
      request: `${d.request.method} ${d.request.path}`,
      attempts: d.attempts,
      error: d.lastError?.code,
      finished: d.finishedAt,
    }));
    out(this, table(rows, ['id', 'kind', 'request', 'attempts', 'error', 'finished']));
  }
}

export class RetryCommand extends BaseCommand {
  static paths = [['retry']];
  static usage = Command.Usage({ description: 'Queue a dead invocation again with a fresh set of attempts' });
  id = Option.String({ required: true });
  async run() {
    const res = await this.client.request<{ id: string; status: string }>('POST', `/v1/invocations/${enc(this.id)}/retry`);
    if (this.json) return json(this, res);
    out(this, `${res.id} ${res.status}\n`);
  }
}

export const asyncCommands = [InvokeAsyncCommand, InvocationCommand, DeadLettersCommand, RetryCommand, ...cronCommands];
