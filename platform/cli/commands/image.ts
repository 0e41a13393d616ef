/**
 * `ignition image build`: builds the microVM base image (ext4: Node, the agent, the vsock addon,
 * a static init) without root, and with `--import` hands it to the local daemon's registry as a
 * `base-image` snapshot.
 */
import { Option } from 'clipanion';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync } from 'node:fs';
import { BaseCommand } from '../base.ts';
import { printJson, progress } from '../output.ts';
import { NotFound } from '../../errors.ts';
import { findDataDir } from '../../config/load.ts';

/** The data directory the daemon on this host uses, created with the daemon's mode if missing (dataDirMode in daemon.ts). */
function dataDirHere(): string {
  const found = findDataDir();
  if (found.notice) process.stderr.write(`${found.notice}\n`);
  mkdirSync(found.dir, { recursive: true, mode: process.getuid?.() === 0 ? 0o711 : 0o700 });
  return found.dir;
}

function agentBundle(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const c of [path.join(here, 'agent.mjs'), path.join(here, '..', 'agent.mjs'), path.join(here, '..', '..', '..', 'dist', 'agent.mjs')])
    if (existsSync(c)) return c;
  throw NotFound(`cannot find dist/agent.mjs near ${here}: run "npm run build"`);
}

export class ImageBuildCommand extends BaseCommand {
  static paths = [['image', 'build']];
  static usage = BaseCommand.Usage({ description: 'Build the microVM base image (ext4) without root' });
  out = Option.String('--out', { description: 'Where to write the image (default: images/base.ext4 in the data directory)' });
  sizeMiB = Option.String('--size-mib', '256');
  doImport = Option.Boolean('--import', false, { description: "Import it into the local daemon's registry as a base image" });
  name = Option.String('--name', { description: 'Registry name for the imported image' });

  async run() {
    const { buildBaseImage } = await import('../../image/index.ts');
    // Beside the daemon's data, found as the daemon finds it, so `--import` hands the daemon a path it knows.
    const out = this.out ? path.resolve(this.out) : path.join(dataDirHere(), 'images', 'base.ext4');
    const p = this.json ? undefined : progress('Building the base image');
    try {
      const image = await buildBaseImage({
        outFile: out,
        agentBundle: agentBundle(),
        sizeMiB: Number(this.sizeMiB),
        workDir: path.join(os.tmpdir(), 'ignition-image'),
        log: (step) => p?.update(`Building the base image: ${step}`),
      });
      p?.done(`Built ${image.path} (${image.digest})`);
      let snapshot: unknown;
      if (this.doImport) snapshot = await this.client.request('POST', '/v1/images', { path: image.path, name: this.name });
      if (this.json) return printJson({ image, snapshot });
      this.context.stdout.write(`${image.path}\n${image.digest}\n`);
    } finally {
      p?.done();
    }
  }
}
