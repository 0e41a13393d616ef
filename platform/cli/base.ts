/**
 * The base of every CLI command: one client of the daemon, `--json` output, and the single place
 * where a failure becomes a one-line message and a non-zero exit code.
 */
import { Command, Option } from 'clipanion';
import { IgnitionClient } from './client.ts';
import { errorLine } from './output.ts';

export abstract class BaseCommand extends Command {
  json = Option.Boolean('--json', false, { description: 'Print machine-readable JSON' });

  private clientInstance: IgnitionClient | undefined;
  get client(): IgnitionClient {
    return (this.clientInstance ??= new IgnitionClient());
  }

  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (err) {
      if (this.json && err && typeof err === 'object' && 'problem' in err) {
        process.stderr.write(JSON.stringify((err as { problem: unknown }).problem) + '\n');
      } else {
        process.stderr.write(errorLine(err) + '\n');
      }
      return 1;
    }
  }
}
