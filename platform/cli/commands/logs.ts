/** `ignition logs <name>`: the function's console output, each line with its invocation id. */
import { Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson } from '../output.ts';
import { ApiError, problemFrom } from '../client.ts';

export class LogsCommand extends BaseCommand {
  static paths = [['logs']];
  static usage = BaseCommand.Usage({ description: "Show a function's console output" });
  name = Option.String({ required: true });
  invocation = Option.String('--invocation', { description: 'Only lines of this invocation id' });
  limit = Option.String('--limit,-n', '100');
  follow = Option.Boolean('--follow,-f', false, { description: 'Keep printing new lines' });

  async run() {
    const print = (logs: Array<{ id?: number; time: number; level: string; invocation: string | null; message: string }>) => {
      for (const l of logs) {
        if (this.json) this.context.stdout.write(JSON.stringify(l) + '\n');
        else this.context.stdout.write(`${new Date(l.time).toISOString()} ${l.invocation ?? '-'} ${l.level.padEnd(5)} ${l.message}\n`);
      }
    };
    if (!this.follow) {
      const { logs } = await this.client.logs(this.name, { invocation: this.invocation, limit: Number(this.limit) });
      if (this.json) return printJson(logs);
      print(logs);
      return;
    }
    // Follow: the daemon streams the backlog and then every new line as server-sent events.
    const qs = new URLSearchParams({ follow: '1', limit: this.limit });
    if (this.invocation) qs.set('invocation', this.invocation);
    const res = await this.client.raw(`/v1/functions/${encodeURIComponent(this.name)}/logs?${qs}`);
    if (!res.ok || !res.body) throw new ApiError(problemFrom(res.status, await res.text()));
    let partial = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const lines = (partial + Buffer.from(chunk).toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('data:')) print([JSON.parse(line.slice(5).trim())]);
    }
  }
}
