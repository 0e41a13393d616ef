/**
 * `ignition daemon`: runs the platform in the foreground. With `--examples` it also deploys every
 * function under ./functions and prints their URLs (what `npm start` does).
 *
 * Everything the daemon prints is in one format (`--log-format`): JSON lines when its output is
 * not a terminal (a service manager, a pipe, a file), lines for a person when it is. Log records
 * go to stderr; the lines of this command (the address it listens on, the examples' URLs, the
 * signal it stopped on) go to stdout, in the same format and whatever the log level.
 */
import { Option } from 'clipanion';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { BaseCommand } from '../base.ts';
import { createLogger, formatRecord, resolveLogFormat, type Level, type LogFormat } from '../../log.ts';
import { BadRequest, isIgnitionError } from '../../errors.ts';

/** Prints one line of this command: `msg` and `fields` as JSON, or `text` (default `msg`) for a person. */
type Say = (msg: string, fields?: Record<string, unknown>, options?: { level?: Level; text?: string }) => void;

export class DaemonCommand extends BaseCommand {
  static paths = [['daemon']];
  static usage = BaseCommand.Usage({
    description: 'Run the Ignition daemon (REST API, invocation endpoint, instance pools)',
    details:
      'Configuration comes from ./ignition.config.ts (or --config) and IGNITION_* environment variables. Output is JSON lines unless stdout and stderr are terminals (--log-format, IGNITION_LOG_FORMAT).',
  });
  config = Option.String('--config', { description: 'Path of the configuration file' });
  examples = Option.Boolean('--examples', false, { description: 'Deploy every function under ./functions and print their URLs' });
  logFormat = Option.String('--log-format', {
    env: 'IGNITION_LOG_FORMAT',
    description: 'json, text, or auto (default): text when stdout and stderr are terminals, else json',
  });

  async run() {
    const choice = this.logFormat ?? 'auto';
    if (choice !== 'auto' && choice !== 'json' && choice !== 'text') {
      throw BadRequest(`--log-format must be "auto", "json" or "text"; got "${choice}"`, { data: { flag: '--log-format', value: choice } });
    }
    const format = resolveLogFormat(choice);
    const out = this.context.stdout;
    const say: Say = (msg, fields = {}, options = {}) =>
      out.write(format === 'json' ? formatRecord('json', options.level ?? 'info', msg, fields) : `${options.text ?? msg}\n`);
    try {
      await this.serve(format, say);
    } catch (err) {
      // A daemon that cannot start says so in the format of the rest of its output.
      if (format === 'text') throw err;
      const code = isIgnitionError(err) ? err.code : 'internal';
      process.stderr.write(formatRecord('json', 'error', err instanceof Error ? err.message : String(err), { code }));
      return 1;
    }
  }

  private async serve(format: LogFormat, say: Say) {
    const { loadConfig } = await import('../../config/load.ts');
    const { startDaemon } = await import('../../daemon.ts');
    const { config, file } = await loadConfig({ file: this.config });
    const daemon = await startDaemon(config, { logger: createLogger({ level: config.logLevel, format }) });
    // Before the address is printed: whoever reads it may signal at once, and a SIGTERM that
    // came before the handler would end the daemon without draining.
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      say(`${signal}: draining and stopping…`, { signal });
      void daemon.close().then(() => process.exit(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // test/support/daemon.ts finds the address by /Ignition daemon on (http:\/\/[^\s]+)/: keep
    // a space after it, in both formats.
    say(`Ignition daemon on ${daemon.url} (driver: ${daemon.driver.name}, config: ${file ?? 'defaults'}, data: ${config.dataDir})`, {
      url: daemon.url,
      driver: daemon.driver.name,
      config: file ?? null,
      dataDir: config.dataDir,
    });

    if (this.examples) await this.deployExamples(daemon, say);
    await new Promise(() => {}); // serve until a signal
  }

  private async deployExamples(daemon: import('../../daemon.ts').Daemon, say: Say) {
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
        const url = `${daemon.url}/fn/${name}/`;
        say('example deployed', { fn: name, seq: res.version.seq, url }, { text: `  ${name.padEnd(12)} v${res.version.seq}  ${url}` });
      } catch (err) {
        say('example failed', { fn: name, err }, { level: 'error', text: `  ${name.padEnd(12)} failed: ${(err as Error).message}` });
      }
    }
    say(`Try: curl ${daemon.url}/fn/hello/`);
  }
}
