/**
 * `ignition dev <dir>`: watches a function's directory, rebuilds and redeploys on every change,
 * shows build errors with file and line (the previous version keeps serving), and streams the
 * function's logs. Ctrl-C stops watching; the function stays deployed.
 */
import { Option } from 'clipanion';
import { watch } from 'node:fs';
import path from 'node:path';
import { BaseCommand } from '../base.ts';
import { errorLine } from '../output.ts';

export class DevCommand extends BaseCommand {
  static paths = [['dev']];
  static usage = BaseCommand.Usage({ description: 'Watch a function, redeploy on change, stream its logs' });
  dir = Option.String({ required: true });
  name = Option.String('--name');

  async run() {
    const { bundleFunction } = await import('../../functions/bundle.ts');
    const dir = path.resolve(this.dir);
    const out = this.context.stdout;
    let name = this.name;
    let lastLog = 0;
    let busy = false;
    let again = false;

    const deployOnce = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        const bundle = await bundleFunction(dir);
        name ??= bundle.packageName ?? path.basename(dir);
        const res = await this.client.deploy(name, { code: bundle.code, map: bundle.map, entry: bundle.entry, settings: bundle.settings });
        out.write(`[dev] ${res.created ? 'deployed' : 'unchanged'} ${res.function} v${res.version.seq} → ${res.url}\n`);
      } catch (err) {
        out.write(`[dev] ${errorLine(err)} (the previous version keeps serving)\n`);
      } finally {
        busy = false;
        if (again) {
          again = false;
          void deployOnce();
        }
      }
    };

    await deployOnce();
    let timer: NodeJS.Timeout | undefined;
    const watcher = watch(dir, { recursive: true }, (_event, file) => {
      if (file && (file.includes('node_modules') || file.startsWith('.'))) return;
      clearTimeout(timer);
      // Editors write files in bursts; deploy once the burst settles.
      timer = setTimeout(() => void deployOnce(), 150);
    });
    const logs = setInterval(async () => {
      if (!name) return;
      try {
        const { logs } = await this.client.logs(name, { after: lastLog, limit: 500 });
        for (const l of logs) {
          lastLog = Math.max(lastLog, l.id);
          out.write(`${new Date(l.time).toISOString()} ${l.invocation ?? '-'} ${l.message}\n`);
        }
      } catch {
        // The function may not exist yet (first build failed); keep polling.
      }
    }, 500);
    out.write(`[dev] watching ${dir} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    watcher.close();
    clearInterval(logs);
  }
}
