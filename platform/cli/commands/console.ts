/**
 * `ignition console [--url]`: asks the daemon for a one-time login link to the web console
 * (POST /v1/console/login-links, admin token only) and opens it in a browser, or prints it.
 * The link is the only thing that leaves: the admin token stays with the CLI.
 */
import { spawn } from 'node:child_process';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson } from '../output.ts';

type LoginLink = { url: string; expiresAt: string; ttlSeconds: number };

export class ConsoleCommand extends BaseCommand {
  static paths = [['console']];
  static usage = Command.Usage({
    description: 'Open the web console with a one-time login link',
    details: `
      The link signs one browser in and is void once used or after about a minute. Without a browser opener (\`xdg-open\`, \`open\`) the link is printed instead.
    `,
    examples: [
      ['Open the console', 'ignition console'],
      ['Print the link, e.g. to open it on another machine through a tunnel', 'ignition console --url'],
    ],
  });
  urlOnly = Option.Boolean('--url', false, { description: 'Print the link instead of opening a browser' });

  async run() {
    const link = await this.client.request<LoginLink>('POST', '/v1/console/login-links');
    if (this.json) return printJson(link);
    if (this.urlOnly || !(await openBrowser(link.url))) {
      this.context.stdout.write(`${link.url}\n`);
      this.context.stderr.write(`The link signs in one browser, once, within ${link.ttlSeconds} s.\n`);
      return 0;
    }
    this.context.stderr.write(`Opened the console in your browser (the link works once, within ${link.ttlSeconds} s).\n`);
    return 0;
  }
}

/** Starts the system's opener; false when there is none, so the caller prints the link. */
function openBrowser(url: string): Promise<boolean> {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  return new Promise((resolve) => {
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
