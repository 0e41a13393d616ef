/**
 * `ignition secret …`: per-function secrets, each subcommand one call of /v1/secrets.
 *   secret set <fn> <NAME> [value | --from-stdin]   secret ls <fn>   secret rm <fn> <NAME>
 *   secret rotate-key
 * A value typed on the command line lands in shell history and is visible to `ps`; `--from-stdin`
 * avoids both (`ignition secret set api DB_PASSWORD --from-stdin < pw.txt`).
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson, table } from '../output.ts';
import { BadRequest } from '../../errors.ts';

type SecretInfo = { name: string; createdAt: number; updatedAt: number };

const path = (fn: string, name?: string) => `/v1/secrets/${encodeURIComponent(fn)}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

export class SecretSetCommand extends BaseCommand {
  static paths = [['secret', 'set']];
  static usage = Command.Usage({
    description: "Set a function's secret (encrypted at rest, given to instances after each restore)",
    examples: [
      ['From standard input (keeps it out of shell history)', 'ignition secret set api DB_PASSWORD --from-stdin < password.txt'],
      ['Inline', 'ignition secret set api STRIPE_KEY sk_test_123'],
    ],
  });
  fromStdin = Option.Boolean('--from-stdin', false, { description: 'Read the value from standard input (one trailing newline is dropped)' });
  fn = Option.String({ required: true });
  name = Option.String({ required: true });
  value = Option.String({ required: false });
  async run() {
    if (this.fromStdin === (this.value !== undefined)) throw BadRequest('give the value as an argument or use --from-stdin (one of the two)');
    const value = this.fromStdin ? (await readAll(this.context.stdin)).replace(/\r?\n$/, '') : this.value!;
    const res = await this.client.request<SecretInfo & { function: string; created: boolean }>('PUT', path(this.fn, this.name), { value });
    if (this.json) return printJson(res);
    const verb = res.created ? 'Set' : 'Updated';
    this.context.stdout.write(`${verb} ${res.name} for ${res.function}\n`);
  }
}

export class SecretListCommand extends BaseCommand {
  static paths = [['secret', 'ls']];
  static usage = Command.Usage({ description: "List a function's secrets (names only)" });
  fn = Option.String({ required: true });
  async run() {
    const { secrets } = await this.client.request<{ secrets: SecretInfo[] }>('GET', path(this.fn));
    if (this.json) return printJson(secrets);
    const rows = secrets.map((s) => ({ name: s.name, created: new Date(s.createdAt).toISOString(), updated: new Date(s.updatedAt).toISOString() }));
    this.context.stdout.write(rows.length ? table(rows, ['name', 'created', 'updated']) : `No secrets for ${this.fn}.\n`);
  }
}

export class SecretRemoveCommand extends BaseCommand {
  static paths = [['secret', 'rm']];
  static usage = Command.Usage({ description: "Remove a function's secret" });
  fn = Option.String({ required: true });
  name = Option.String({ required: true });
  async run() {
    const res = await this.client.request<{ function: string; removed: string }>('DELETE', path(this.fn, this.name));
    if (this.json) return printJson(res);
    this.context.stdout.write(`Removed ${res.removed} from ${res.function}\n`);
  }
}

export class SecretRotateKeyCommand extends BaseCommand {
  static paths = [['secret', 'rotate-key']];
  static usage = Command.Usage({ description: 'Re-encrypt every secret under a new key and replace secrets.key' });
  async run() {
    const res = await this.client.request<{ rotated: number; keyId: string }>('POST', '/v1/secrets/_rotate-key');
    if (this.json) return printJson(res);
    this.context.stdout.write(`Re-encrypted ${res.rotated} secret${res.rotated === 1 ? '' : 's'}; new key ${res.keyId}\n`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

export const secretCommands = [SecretSetCommand, SecretListCommand, SecretRemoveCommand, SecretRotateKeyCommand];
