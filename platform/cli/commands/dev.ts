/**
 * `ignition dev <dir>`: watches a function's directory, rebuilds and redeploys on every change,
 * shows build errors with file and line (the previous version keeps serving), and streams the
 * function's logs. Ctrl-C stops watching; the function stays deployed.
 */
import { Option } from 'clipanion';
import path from 'node:path';
import { BaseCommand } from '../base.ts';
import { errorLine } from '../output.ts';
import { functionName } from './deploy.ts';

/** How long the directory must stay quiet after a change before it is deployed. */
const DEBOUNCE_MS = 150;

/** Paths under `dir` that are never edits of the function: node_modules, and hidden entries such as .git. */
export function isIgnored(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  if (!rel || rel.startsWith('..')) return false;
  return rel.split(path.sep).some((part) => part === 'node_modules' || part.startsWith('.'));
}

export class DevCommand extends BaseCommand {
  static paths = [['dev']];
  static usage = BaseCommand.Usage({ description: 'Watch a function, redeploy on change, stream its logs' });
  dir = Option.String({ required: true });
  name = Option.String('--name');

  async run() {
    const { bundleFunction } = await import('../../functions/bundle.ts');
    const dir = path.resolve(this.dir);
    const out = this.context.stdout;
    if (this.name !== undefined) functionName(this.name, '--name');
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
        name ??= functionName(bundle.defaultName.name, `function name from ${bundle.defaultName.from}`);
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
    // chokidar rather than Node's recursive fs.watch: on Linux the latter watches inodes, and an
    // atomic save (a temp file renamed over the original, as editors and `sed -i` do) leaves it
    // watching a file that is gone, so every later edit went unseen. chokidar watches the
    // directories and re-attaches to the new file.
    const { watch } = await import('chokidar');
    const watcher = watch(dir, {
      ignoreInitial: true,
      // Installed dependencies, git's files and hidden editor files are not edits of the function;
      // not descending into them also keeps a large node_modules from costing watches.
      ignored: (file) => isIgnored(dir, file),
    });
    let timer: NodeJS.Timeout | undefined;
    watcher.on('all', () => {
      clearTimeout(timer);
      // Editors write files in bursts; deploy once the burst settles.
      timer = setTimeout(() => void deployOnce(), DEBOUNCE_MS);
    });
    watcher.on('error', (err) => out.write(`[dev] ${errorLine(err)} (watching goes on)\n`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
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
    clearTimeout(timer);
    clearInterval(logs);
    await watcher.close();
  }
}
