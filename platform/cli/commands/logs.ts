/** `ignition logs <name>`: the function's console output, each line with its invocation id. */
import { Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { ApiError, problemFrom } from '../client.ts';
import { BadRequest } from '../../errors.ts';
import { LOG_LEVELS, parseLogLevel } from '../../functions/logs.ts';

/** The most lines the daemon returns for one request (`limit` of GET /v1/functions/{name}/logs). */
export const LOGS_LIMIT_MAX = 10_000;

type LogLine = { id?: number; time: number; level: string; invocation: string | null; message: string };

export class LogsCommand extends BaseCommand {
  static paths = [['logs']];
  static usage = BaseCommand.Usage({
    description: "Show a function's console output",
    details: `
      Prints the newest lines (\`-n\`, at most ${LOGS_LIMIT_MAX}, the daemon's limit for one request). The daemon keeps the newest \`logRetention\` lines of each function (5000 unless configured). \`-f\` then keeps printing new lines until Ctrl-C, or until the function is removed.
    `,
  });
  name = Option.String({ required: true });
  invocation = Option.String('--invocation', { description: 'Only lines of this invocation id' });
  level = Option.String('--level', { description: `Only lines of this level and the more severe ones (${LOG_LEVELS.join(', ')})` });
  limit = Option.String('--limit,-n', '100', { description: `How many of the newest lines (1 to ${LOGS_LIMIT_MAX})` });
  follow = Option.Boolean('--follow,-f', false, { description: 'Keep printing new lines' });

  async run() {
    const limit = Number(this.limit);
    if (!Number.isInteger(limit) || limit < 1) throw BadRequest(`--limit (-n) must be a whole number of lines from 1 (got ${JSON.stringify(this.limit)})`);
    // Checked here too, so a wrong level is one line before any request is made.
    const level = parseLogLevel(this.level);
    if (limit > LOGS_LIMIT_MAX) {
      this.context.stderr.write(`ignition: showing at most the newest ${LOGS_LIMIT_MAX} lines; the daemon returns no more at once\n`);
    }
    const out = this.context.stdout;
    // A reader that stops early (`| head`) closes the pipe: that ends the command quietly with
    // status 0, as `git log | head` does, instead of failing on a write that can go nowhere.
    const closed = new AbortController();
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') this.context.stderr.write(`error: cannot write the logs: ${err.message}\n`);
      closed.abort();
    };
    out.on('error', onError);
    const write = (text: string) => {
      if (!closed.signal.aborted) out.write(text);
    };
    const print = (logs: LogLine[]) => {
      for (const l of logs) {
        if (this.json) write(JSON.stringify(l) + '\n');
        else write(`${new Date(l.time).toISOString()} ${l.invocation ?? '-'} ${l.level.padEnd(5)} ${l.message}\n`);
      }
    };
    if (!this.follow) {
      const { logs } = await this.client.logs(this.name, { invocation: this.invocation, level, limit: Math.min(limit, LOGS_LIMIT_MAX) });
      if (this.json) write(JSON.stringify(logs, null, 2) + '\n');
      else print(logs);
      return 0;
    }
    // Follow: the daemon streams the backlog and then every new line as server-sent events.
    const qs = new URLSearchParams({ follow: '1', limit: String(Math.min(limit, LOGS_LIMIT_MAX)) });
    if (this.invocation) qs.set('invocation', this.invocation);
    if (level) qs.set('level', level);
    const res = await this.client.raw(`/v1/functions/${encodeURIComponent(this.name)}/logs?${qs}`, { signal: closed.signal });
    if (!res.ok || !res.body) throw new ApiError(problemFrom(res.status, await res.text()));
    let partial = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const lines = (partial + Buffer.from(chunk).toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.startsWith('data:')) print([JSON.parse(line.slice(5).trim())]);
      }
    } catch (err) {
      if (closed.signal.aborted) return 0;
      throw err;
    }
    if (closed.signal.aborted) return 0;
    // The daemon ends the stream when the function is removed; anything else is the daemon going.
    try {
      await this.client.getFunction(this.name);
    } catch (err) {
      if (err instanceof ApiError && err.problem.code === 'function_not_found') {
        this.context.stderr.write(`ignition: function ${this.name} was removed; no more logs\n`);
        return 0;
      }
      throw err;
    }
    throw new ApiError({ status: 0, code: 'daemon_unreachable', detail: `the daemon at ${this.client.baseUrl} closed the log stream` });
  }
}
