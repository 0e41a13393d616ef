/**
 * `ignition token …`: API tokens, each subcommand one call of /v1/tokens.
 *   token create [--name N] [--scope admin|invoke] [--function F]   (prints the token once)
 *   token ls      token revoke <id>
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson, table } from '../output.ts';

type TokenRecord = { id: string; name: string; scope: string; function: string | null; createdAt: number; lastUsedAt: number | null; revokedAt: number | null };

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

export class TokenCreateCommand extends BaseCommand {
  static paths = [['token', 'create']];
  static usage = Command.Usage({
    description: 'Issue an API token (shown once: store it now)',
    examples: [
      ['An admin token for CI', 'ignition token create --name ci'],
      ['A token that may only invoke one function', 'ignition token create --scope invoke --function hello'],
    ],
  });
  name = Option.String('--name', { description: 'A label shown by "token ls"' });
  scope = Option.String('--scope', { description: 'admin (the /v1 API) or invoke (calling functions); default admin' });
  fn = Option.String('--function', { description: 'For invoke tokens: the one function it may call' });
  async run() {
    const res = await this.client.request<TokenRecord & { token: string }>('POST', '/v1/tokens', { name: this.name, scope: this.scope, function: this.fn });
    if (this.json) return printJson(res);
    this.context.stdout.write(`${res.token}\n`);
    const what = res.scope === 'admin' ? 'admin' : `invoke (${res.function ?? 'all functions'})`;
    this.context.stderr.write(`Created ${res.id} "${res.name}", scope ${what}. This is the only time the token is shown.\n`);
  }
}

export class TokenListCommand extends BaseCommand {
  static paths = [['token', 'ls']];
  static usage = Command.Usage({ description: 'List API tokens (never the tokens themselves)' });
  async run() {
    const { tokens } = await this.client.request<{ tokens: TokenRecord[] }>('GET', '/v1/tokens');
    if (this.json) return printJson(tokens);
    const rows = tokens.map((t) => ({
      ...t,
      function: t.function ?? '-',
      status: t.revokedAt === null ? 'active' : 'revoked',
      created: when(t.createdAt),
      lastUsed: when(t.lastUsedAt),
    }));
    this.context.stdout.write(rows.length ? table(rows, ['id', 'name', 'scope', 'function', 'status', 'created', 'lastUsed']) : 'No tokens.\n');
  }
}

export class TokenRevokeCommand extends BaseCommand {
  static paths = [['token', 'revoke']];
  static usage = Command.Usage({ description: 'Revoke an API token; requests with it fail from now on' });
  id = Option.String({ required: true });
  async run() {
    const { revoked } = await this.client.request<{ revoked: TokenRecord }>('DELETE', `/v1/tokens/${encodeURIComponent(this.id)}`);
    if (this.json) return printJson(revoked);
    this.context.stdout.write(`Revoked ${revoked.id} "${revoked.name}"\n`);
  }
}

export const tokenCommands = [TokenCreateCommand, TokenListCommand, TokenRevokeCommand];
