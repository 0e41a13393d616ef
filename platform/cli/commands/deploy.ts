/** `ignition deploy <dir>`: bundle locally with esbuild, upload, and print the function's URL. */
import { Option } from 'clipanion';
import path from 'node:path';
import { BaseCommand } from '../base.ts';
import { printJson, progress } from '../output.ts';
import { BadRequest } from '../../errors.ts';

export function parseEnvFlags(flags: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw BadRequest(`--env ${JSON.stringify(f)} must be KEY=VALUE`);
    env[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return env;
}

export class DeployCommand extends BaseCommand {
  static paths = [['deploy']];
  static usage = BaseCommand.Usage({
    description: 'Bundle a function directory and deploy it as a new version',
    examples: [
      ['Deploy the hello example', 'ignition deploy functions/hello'],
      ['Name it and pass environment', 'ignition deploy ./api --name api --env GREETING=hi'],
    ],
  });

  dir = Option.String({ required: true });
  name = Option.String('--name', { description: 'Function name (default: package.json name or the directory name)' });
  env = Option.Array('--env', [], { description: 'KEY=VALUE environment for the function (repeatable)' });
  alias = Option.String('--alias', { description: 'Alias to move to the new version (default: latest)' });
  minWarm = Option.String('--min-warm');
  maxInstances = Option.String('--max-instances');
  concurrency = Option.String('--concurrency');
  timeout = Option.String('--timeout', { description: 'Per-request timeout in ms' });
  memory = Option.String('--memory', { description: 'Memory in MiB' });
  isolation = Option.String('--isolation', { description: 'reuse | fresh' });
  network = Option.Boolean('--network', { description: 'Allow the function to reach the network' });

  async run() {
    const { bundleFunction } = await import('../../functions/bundle.ts');
    const dir = path.resolve(this.dir);
    const p = this.json ? undefined : progress(`Bundling ${this.dir}`);
    try {
      const bundle = await bundleFunction(dir);
      const name = this.name ?? bundle.packageName ?? path.basename(dir);
      const flags: Record<string, unknown> = {};
      const num = (v: string | undefined, key: string) => {
        if (v === undefined) return;
        const n = Number(v);
        if (!Number.isFinite(n)) throw BadRequest(`--${key} must be a number (got ${JSON.stringify(v)})`);
        flags[key] = n;
      };
      num(this.minWarm, 'minWarm');
      num(this.maxInstances, 'maxInstances');
      num(this.concurrency, 'concurrency');
      num(this.timeout, 'timeoutMs');
      num(this.memory, 'memoryMiB');
      if (this.isolation !== undefined) flags.isolation = this.isolation;
      if (this.network !== undefined) flags.network = this.network;
      p?.update(`Deploying ${name} (${(bundle.code.length / 1024).toFixed(1)} KiB)`);
      const res = await this.client.deploy(name, {
        code: bundle.code,
        map: bundle.map,
        entry: bundle.entry,
        settings: { ...bundle.settings, ...flags },
        env: parseEnvFlags(this.env),
        alias: this.alias,
      });
      p?.done(res.created ? `Deployed ${res.function} v${res.version.seq}` : `Unchanged: ${res.function} v${res.version.seq}`);
      if (this.json) printJson(res);
      else this.context.stdout.write(`${res.url}\n`);
    } finally {
      p?.done();
    }
  }
}
