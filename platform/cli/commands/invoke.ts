/**
 * `ignition invoke <name>`: calls a function through the daemon and prints the response body.
 *
 * What the function answered, whatever its status, is output: the body as is on stdout. What the
 * platform answered instead (a problem document without the function's invocation id) is an error,
 * one line. The exit code follows `curl --fail`: 1 for a 4xx or 5xx, so scripts can test it.
 */
import { Option } from 'clipanion';
import { readFileSync } from 'node:fs';
import { BaseCommand } from '../base.ts';
import { ApiError, problemFrom } from '../client.ts';
import { BadRequest } from '../../errors.ts';
import { InvocationHeaders } from '../../../agent/protocol.ts';

export class InvokeCommand extends BaseCommand {
  static paths = [['invoke']];
  static usage = BaseCommand.Usage({
    description: 'Invoke a function and print its response body',
    details: `
      The function's response body is printed on stdout as is, whatever its status. With a 4xx or 5xx status the status line goes to stderr (\`HTTP 422 Unprocessable Entity\`) and the command exits 1, as \`curl --fail\` does; any other status exits 0. \`--include\` prints the status line and the headers on stdout, before the body, instead.

      A failure of the platform rather than the function's own answer (no such function, timeout, crash, body over the limit, a method the daemon does not implement) is one line on stderr, \`error: <detail> [<code>]\` (the problem document with \`--json\`), and exits 1.
    `,
    examples: [
      ['GET /', 'ignition invoke hello'],
      ['POST JSON', 'ignition invoke api --path /users --data \'{"name":"ada"}\' -H content-type:application/json'],
      ['A function deployed with "auth": "token"', 'ignition invoke private --token "$(ignition token create --scope invoke --function private)"'],
    ],
  });

  name = Option.String({ required: true });
  urlPath = Option.String('--path', '/', { description: 'Path and query to invoke, e.g. /users/1?x=y' });
  method = Option.String('--method,-X');
  header = Option.Array('-H,--header', [], { description: 'K:V request header (repeatable)' });
  data = Option.String('--data,-d');
  dataFile = Option.String('--data-file');
  include = Option.Boolean('--include,-i', false, { description: 'Print the status line and headers too' });
  // The admin token is never sent to /fn: it would reach the function's code.
  token = Option.String('--token', { description: 'Bearer token for a function deployed with "auth": "token" (an invoke token)' });

  async run() {
    if (this.data !== undefined && this.dataFile !== undefined) throw BadRequest('give --data or --data-file, not both');
    const headers: Record<string, string> = {};
    for (const h of this.header) {
      const i = h.indexOf(':');
      if (i <= 0) throw BadRequest(`-H ${JSON.stringify(h)} must be NAME:VALUE`);
      headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    const method = this.method?.toUpperCase();
    if (method !== undefined) checkMethod(method);
    const body = this.dataFile !== undefined ? readFileSync(this.dataFile) : this.data;
    const res = await this.client.invoke(this.name, { path: this.urlPath, method, headers, body, token: this.token });
    const type = res.headers.get('content-type') ?? '';
    // A platform error is a failure of the command. The function's own answers, problem documents
    // included, carry its invocation id (the invoker sets it on every one); the platform's do not.
    const fromFunction = res.headers.has(InvocationHeaders.id);
    if (!fromFunction && res.status >= 400 && type.startsWith('application/problem+json')) {
      const problem = problemFrom(res.status, await res.text());
      if (problem.code === 'unauthorized' && this.token === undefined) {
        problem.detail = `${problem.detail.replace(/\.$/, '')}; ${this.name} needs a token: pass --token (ignition token create --scope invoke --function ${this.name})`;
      }
      throw new ApiError(problem);
    }
    const failed = res.status >= 400;
    if (this.include) {
      this.context.stdout.write(`HTTP ${res.status}\n`);
      res.headers.forEach((v, k) => this.context.stdout.write(`${k}: ${v}\n`));
      this.context.stdout.write('\n');
    } else if (failed) {
      this.context.stderr.write(`${`HTTP ${res.status} ${res.statusText}`.trimEnd()}\n`);
    }
    if (res.body) for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) this.context.stdout.write(chunk);
    return failed ? 1 : 0;
  }
}

/**
 * A method the CLI can send: an HTTP token, and not one that fetch refuses to send. Checked here
 * because fetch's refusal is a TypeError that would read as the daemon being unreachable.
 */
function checkMethod(method: string): void {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method))
    throw BadRequest(`-X ${JSON.stringify(method)} is not an HTTP method (one word of letters, digits and !#$%&'*+-.^_\`|~)`);
  if (['CONNECT', 'TRACE', 'TRACK'].includes(method)) throw BadRequest(`-X ${method} cannot be sent by ignition invoke (fetch forbids it); use curl`);
}
