/**
 * `ignition daemon`: runs the platform in the foreground. With `--examples` it also deploys every
 * function under ./functions and prints their URLs (what `npm start` does).
 */
import { Option } from 'clipanion';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BaseCommand } from '../base.ts';

export class DaemonCommand extends BaseCommand {
  static paths = [['daemon']];
  static usage = BaseCommand.Usage({
    description: 'Run the Ignition daemon (REST API, invocation endpoint, instance pools)',
    details: 'Configuration comes from ./ignition.config.ts (or --config) and IGNITION_* environment variables.',
  });
  config = Option.String('--config', { description: 'Path of the configuration file' });
  examples = Option.Boolean('--examples', false, { description: 'Deploy every function under ./functions and print their URLs' });

  async run() {
    const { loadConfig } = await import('../../config/load.ts');
    const { startDaemon } = await import('../../daemon.ts');
    const { config, file } = await loadConfig({ file: this.config });
    const daemon = await startDaemon(config);
    const out = this.context.stdout;
    out.write(`Ignition daemon on ${daemon.url} (driver: ${daemon.driver.name}, config: ${file ?? 'defaults'}, data: ${config.dataDir})\n`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      out.write(`${signal}: draining and stopping…\n`);
      void daemon.close().then(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));

    if (this.examples) await this.deployExamples(daemon, out);
    await new Promise(() => {}); // serve until a signal
  }

  private async deployExamples(daemon: import('../../daemon.ts').Daemon, out: NodeJS.WritableStream) {
    const { bundleFunction } = await import('../../functions/bundle.ts');
    const root = path.resolve('functions');
    if (!existsSync(root)) return;
    const dirs = readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    for (const name of dirs) {
      try {
        const bundle = await bundleFunction(path.join(root, name));
        const res = await daemon.functions.deploy({ name, code: bundle.code, map: bundle.map, entry: bundle.entry, settings: bundle.settings });
        out.write(`  ${name.padEnd(12)} v${res.version.seq}  ${daemon.url}/fn/${name}/\n`);
      } catch (err) {
        out.write(`  ${name.padEnd(12)} failed: ${(err as Error).message}\n`);
      }
    }
    out.write(`Try: curl ${daemon.url}/fn/hello/\n`);
  }
}
