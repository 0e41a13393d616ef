/**
 * The base of every CLI command: one client of the daemon, `--json` output, and the single place
 * where a failure becomes a one-line message and a non-zero exit code.
 */
import { Command, Option } from 'clipanion';
import { IgnitionClient } from './client.ts';
import { errorLine } from './output.ts';
import { BadRequest } from '../errors.ts';

/**
 * The integer value of a numeric flag, or undefined when it was not given. Anything else (`abc`,
 * `1.5`, out of range) is a one-line error that names the flag and its range: Number() alone
 * would turn `abc` into NaN, which JSON sends as null and the daemon reads as "use the default".
 */
export function integerFlag(flag: string, raw: string | undefined, range: { min: number; max: number; unit?: string }): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (Number.isSafeInteger(value) && value >= range.min && value <= range.max) return value;
  const unit = range.unit ? ` (${range.unit})` : '';
  throw BadRequest(`${flag} must be an integer from ${range.min} to ${range.max}${unit}; got "${raw}"`, { data: { flag, ...range, value: raw } });
}

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
