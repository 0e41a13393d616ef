/** `ignition logs <name>`: the function's console output, each line with its invocation id. */
import { Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson } from '../output.ts';

export class LogsCommand extends BaseCommand {
  static paths = [['logs']];
  static usage = BaseCommand.Usage({ description: "Show a function's console output" });
  name = Option.String({ required: true });
  invocation = Option.String('--invocation', { description: 'Only lines of this invocation id' });
  limit = Option.String('--limit,-n', '100');
  follow = Option.Boolean('--follow,-f', false, { description: 'Keep printing new lines' });

  async run() {
    let after = 0;
    const print = (logs: Array<{ id: number; time: number; level: string; invocation: string | null; message: string }>) => {
      for (const l of logs) {
        after = Math.max(after, l.id);
        if (this.json) this.context.stdout.write(JSON.stringify(l) + '\n');
        else this.context.stdout.write(`${new Date(l.time).toISOString()} ${l.invocation ?? '-'} ${l.level.padEnd(5)} ${l.message}\n`);
      }
    };
    const { logs } = await this.client.logs(this.name, { invocation: this.invocation, limit: Number(this.limit) });
    if (this.json && !this.follow) return printJson(logs);
    print(logs);
    while (this.follow) {
      await new Promise((r) => setTimeout(r, 500));
      print((await this.client.logs(this.name, { invocation: this.invocation, after, limit: 1000 })).logs);
    }
  }
}
