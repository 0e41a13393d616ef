/**
 * Builds Ignition's base image from the command line (what `ignition image build` and
 * scripts/install.sh run):
 *
 *   node --import tsx scripts/image/build.ts [--out <file>] [--agent dist/agent.mjs] [--size-mib 256]
 *        [--work-dir <dir>] [--node <path>] [--debian <suite>] [--mirror <url>] [--keep-tree]
 *
 * Prints one JSON line with the image's path, digest and sizes; the step log goes to stderr.
 * Exit code 1 with the error's code and message when the build fails.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildBaseImage } from '../../platform/image/index.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: path.join('.ignition', 'images', 'base.ext4') },
    agent: { type: 'string', default: path.join('dist', 'agent.mjs') },
    'size-mib': { type: 'string', default: '256' },
    'work-dir': { type: 'string', default: path.join(os.tmpdir(), 'ignition-image') },
    node: { type: 'string' },
    debian: { type: 'string' },
    mirror: { type: 'string' },
    'keep-tree': { type: 'boolean', default: false },
  },
});

try {
  const image = await buildBaseImage({
    outFile: values.out!,
    agentBundle: values.agent!,
    sizeMiB: Number(values['size-mib']),
    workDir: values['work-dir']!,
    nodeBinary: values.node,
    debian: values.debian ? { suite: values.debian, mirror: values.mirror } : undefined,
    keepTree: values['keep-tree'],
    log: (step, ms) => process.stderr.write(`image: ${step} ${ms} ms\n`),
  });
  process.stdout.write(`${JSON.stringify(image)}\n`);
} catch (err) {
  const e = err as { code?: string; message: string };
  process.stderr.write(`image build failed${e.code ? ` (${e.code})` : ''}: ${e.message}\n`);
  process.exitCode = 1;
}
