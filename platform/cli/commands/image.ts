/**
 * `ignition image build`: builds the microVM base image (ext4: Node, the agent, the vsock addon,
 * a static init) without root, and with `--import` hands it to the local daemon's registry as a
 * `base-image` snapshot.
 */
import { Option } from 'clipanion';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { BaseCommand } from '../base.ts';
import { printJson, progress } from '../output.ts';
import { NotFound } from '../../errors.ts';

function agentBundle(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const c of [path.join(here, 'agent.mjs'), path.join(here, '..', 'agent.mjs'), path.join(here, '..', '..', '..', 'dist', 'agent.mjs')])
    if (existsSync(c)) return c;
  throw NotFound(`cannot find dist/agent.mjs near ${here}: run "npm run build"`);
}

export class ImageBuildCommand extends BaseCommand {
  static paths = [['image', 'build']];
  static usage = BaseCommand.Usage({ description: 'Build the microVM base image (ext4) without root' });
  out = Option.String('--out', path.join('.ignition', 'images', 'base.ext4'));
  sizeMiB = Option.String('--size-mib', '256');
  doImport = Option.Boolean('--import', false, { description: "Import it into the local daemon's registry as a base image" });
  name = Option.String('--name', { description: 'Registry name for the imported image' });

  async run() {
    const { buildBaseImage } = await import('../../image/index.ts');
    const p = this.json ? undefined : progress('Building the base image');
    try {
      const image = await buildBaseImage({
        outFile: path.resolve(this.out),
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
