/**
 * The snapshot registry from the command line (all through /v1/snapshots and /v1/images):
 *   images [--tree] [--kind K]   inspect <snapshot>   rmi <snapshot> [--force]   gc [--dry-run]
 *   verify (non-zero exit when anything is missing or corrupt)   export <snapshot> <dir|file.tar>
 *   import <dir|file.tar>   push <snapshot> <registry/repo:tag>   pull <registry/repo:tag>
 * Tar files stream over the API connection, so they work against a remote daemon; directories are
 * paths on the daemon's host.
 */
import { Command, Option } from 'clipanion';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BaseCommand } from '../base.ts';
import { ApiError, problemFrom } from '../client.ts';
import { printJson, progress, table } from '../output.ts';

type Snap = {
  id: string;
  name: string | null;
  tags: string[];
  kind: string;
  driver: string;
  size: number;
  parentId: string | null;
  createdAt: string;
  labels?: Record<string, string>;
};
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export class ImagesCommand extends BaseCommand {
  static paths = [['images']];
  static usage = Command.Usage({ description: 'List snapshots (golden, fork, manual, base images); --tree shows their descent' });
  tree = Option.Boolean('--tree', false);
  kind = Option.String('--kind');
  async run() {
    if (this.tree && !this.json) {
      const res = await this.client.raw('/v1/snapshots/tree?format=text');
      if (!res.ok) throw new ApiError(problemFrom(res.status, await res.text()));
      this.context.stdout.write(await res.text());
      return;
    }
    if (this.tree) return printJson((await this.client.request<{ tree: unknown }>('GET', '/v1/snapshots/tree')).tree);
    const q = this.kind ? `?kind=${encodeURIComponent(this.kind)}` : '';
    const { snapshots } = await this.client.request<{ snapshots: Snap[] }>('GET', `/v1/snapshots${q}`);
    if (this.json) return printJson(snapshots);
    const names = await this.displayNames(snapshots);
    this.context.stdout.write(
      snapshots.length
        ? table(
            snapshots.map((s) => ({
              id: s.id,
              name: names.get(s.id) ?? '-',
              kind: s.kind,
              driver: s.driver,
              size: mib(s.size),
              parent: s.parentId ?? '-',
              created: s.createdAt,
            })),
            ['id', 'name', 'kind', 'driver', 'size', 'parent', 'created'],
          )
        : 'No snapshots.\n',
    );
  }

  /**
   * What the NAME column shows: the snapshot's name, else its first tag, else for a golden
   * snapshot (which deploys leave unnamed) the version it belongs to, `<function>@v<seq>`, from
   * its `ignition.function` and `ignition.version` labels. The version number comes from the
   * function's version list, one request per function; a version this daemon does not know (a
   * snapshot imported from elsewhere) shows its version id instead.
   */
  private async displayNames(snapshots: Snap[]): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    const golden = new Map<string, Snap[]>();
    for (const s of snapshots) {
      const fn = s.labels?.['ignition.function'];
      if (s.name ?? s.tags[0]) names.set(s.id, (s.name ?? s.tags[0])!);
      else if (fn && s.labels?.['ignition.version']) golden.set(fn, [...(golden.get(fn) ?? []), s]);
    }
    await Promise.all(
      [...golden].map(async ([fn, snaps]) => {
        const seqs = new Map<string, number>();
        try {
          const { versions } = await this.client.request<{ versions: Array<{ id: string; seq: number }> }>(
            'GET',
            `/v1/functions/${encodeURIComponent(fn)}/versions`,
          );
          for (const v of versions) seqs.set(v.id, v.seq);
        } catch (err) {
          // The function is not deployed here (an imported snapshot): show the version ids.
          if (!(err instanceof ApiError && err.problem.status === 404)) throw err;
        }
        for (const s of snaps) {
          const version = s.labels!['ignition.version'];
          const seq = seqs.get(version);
          names.set(s.id, `${fn}@${seq === undefined ? version : `v${seq}`}`);
        }
      }),
    );
    return names;
  }
}

export class InspectCommand extends BaseCommand {
  static paths = [['inspect']];
  static usage = Command.Usage({ description: 'Show one snapshot in full: files and digests, config, labels, lineage' });
  ref = Option.String({ required: true });
  async run() {
    printJson(await this.client.request('GET', `/v1/snapshots/${encodeURIComponent(this.ref)}`));
  }
}

export class RmiCommand extends BaseCommand {
  static paths = [['rmi']];
  static usage = Command.Usage({ description: 'Remove a snapshot (refused if others descend from it, unless --force)' });
  ref = Option.String({ required: true });
  force = Option.Boolean('--force', false);
  async run() {
    const r = await this.client.request<{ removed: Snap }>('DELETE', `/v1/snapshots/${encodeURIComponent(this.ref)}${this.force ? '?force=1' : ''}`);
    if (this.json) return printJson(r);
    this.context.stdout.write(`Removed ${r.removed.id}\n`);
  }
}

export class GcCommand extends BaseCommand {
  static paths = [['gc']];
  static usage = Command.Usage({ description: 'Free blobs no snapshot refers to' });
  dryRun = Option.Boolean('--dry-run', false);
  async run() {
    const r = await this.client.request<{ removed: string[]; freedBytes: number; freedDiskBytes: number; kept: number }>('POST', '/v1/snapshots/gc', {
      dryRun: this.dryRun,
    });
    if (this.json) return printJson(r);
    this.context.stdout.write(
      `${this.dryRun ? 'Would free' : 'Freed'} ${r.removed.length} blobs, ${mib(r.freedBytes)} (${mib(r.freedDiskBytes)} on disk); ${r.kept} kept\n`,
    );
  }
}

export class VerifyCommand extends BaseCommand {
  static paths = [['verify']];
  static usage = Command.Usage({ description: 'Re-hash every blob; report missing or corrupt ones and the snapshots they break' });
  async run() {
    const r = await this.client.request<{
      ok: boolean;
      checked: number;
      bytes: number;
      missing: Array<{ digest: string }>;
      corrupt: Array<{ digest: string }>;
      broken: string[];
    }>('POST', '/v1/snapshots/verify');
    if (this.json) printJson(r);
    else {
      this.context.stdout.write(`Checked ${r.checked} blobs (${mib(r.bytes)})\n`);
      for (const m of r.missing) this.context.stdout.write(`missing  ${m.digest}\n`);
      for (const c of r.corrupt) this.context.stdout.write(`corrupt  ${c.digest}\n`);
      if (r.broken.length) this.context.stdout.write(`broken snapshots: ${r.broken.join(', ')}\n`);
      this.context.stdout.write(r.ok ? 'All blobs intact.\n' : 'Problems found.\n');
    }
    return r.ok ? 0 : 1;
  }
}

export class ExportCommand extends BaseCommand {
  static paths = [['export']];
  static usage = Command.Usage({ description: 'Write a snapshot as an OCI image layout (a .tar file here, or a directory on the daemon host)' });
  ref = Option.String({ required: true });
  target = Option.String({ required: true });
  async run() {
    if (this.target.endsWith('.tar')) {
      const res = await this.client.raw(`/v1/snapshots/${encodeURIComponent(this.ref)}/layout.tar`);
      if (!res.ok || !res.body) throw new ApiError(problemFrom(res.status, await res.text()));
      const tmp = `${this.target}.partial`;
      await pipeline(Readable.fromWeb(res.body as never), createWriteStream(tmp));
      (await import('node:fs')).renameSync(tmp, this.target);
      if (this.json) return printJson({ file: path.resolve(this.target), digest: res.headers.get('docker-content-digest') });
      this.context.stdout.write(`${path.resolve(this.target)}\n`);
      return;
    }
    const r = await this.client.request('POST', `/v1/snapshots/${encodeURIComponent(this.ref)}/export`, { path: path.resolve(this.target) });
    if (this.json) return printJson(r);
    this.context.stdout.write(`${path.resolve(this.target)}\n`);
  }
}

export class ImportCommand extends BaseCommand {
  static paths = [['import']];
  static usage = Command.Usage({ description: 'Read an OCI image layout (a .tar file, or a directory on the daemon host) into the registry' });
  source = Option.String({ required: true });
  name = Option.String('--name');
  async run() {
    let r: { imported: Array<{ snapshot: { id: string; name: string | null }; existed: boolean }> };
    if (statSync(this.source).isFile()) {
      const q = this.name ? `?name=${encodeURIComponent(this.name)}` : '';
      const res = await this.client.raw(`/v1/snapshots/import${q}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-tar' },
        body: Readable.toWeb(createReadStream(this.source)) as never,
        duplex: 'half',
      } as RequestInit);
      if (!res.ok) throw new ApiError(problemFrom(res.status, await res.text()));
      r = (await res.json()) as typeof r;
    } else {
      r = await this.client.request('POST', '/v1/snapshots/import', { path: path.resolve(this.source), name: this.name });
    }
    if (this.json) return printJson(r);
    for (const s of r.imported) {
      // The daemon adds --name as a tag of a snapshot that was already here (it keeps its name).
      const tagged = s.existed && this.name !== undefined && s.snapshot.name !== this.name ? `; tagged "${this.name}"` : '';
      this.context.stdout.write(`${s.snapshot.id}${s.existed ? ` (already present${tagged})` : ''}\n`);
    }
  }
}

abstract class RemoteCommand extends BaseCommand {
  insecure = Option.Boolean('--insecure', false, { description: 'Allow plain HTTP to a non-loopback registry' });
  username = Option.String('--username');
  password = Option.String('--password', { description: 'Or IGNITION_REGISTRY_PASSWORD' });
  token = Option.String('--registry-token');
  auth() {
    if (this.token) return { token: this.token };
    const password = this.password ?? process.env.IGNITION_REGISTRY_PASSWORD;
    if (this.username && password) return { username: this.username, password };
    return undefined;
  }
}

export class PushCommand extends RemoteCommand {
  static paths = [['push']];
  static usage = Command.Usage({
    description: 'Push a snapshot to an OCI registry',
    examples: [['', 'ignition push hello-golden registry.local:5000/fns/hello:v1']],
  });
  ref = Option.String({ required: true });
  remote = Option.String({ required: true });
  async run() {
    const p = this.json ? undefined : progress(`Pushing ${this.ref} to ${this.remote}`);
    try {
      const r = await this.client.request<{ manifestDigest: string; uploaded: number; skipped: number; mounted: number; bytesSent: number }>(
        'POST',
        `/v1/snapshots/${encodeURIComponent(this.ref)}/push`,
        { ref: this.remote, insecure: this.insecure, auth: this.auth() },
      );
      p?.done(`Pushed ${this.remote}: ${r.uploaded} blobs uploaded (${mib(r.bytesSent)}), ${r.skipped} already there, ${r.mounted} mounted`);
      if (this.json) printJson(r);
      else this.context.stdout.write(`${r.manifestDigest}\n`);
    } finally {
      p?.done();
    }
  }
}

export class PullCommand extends RemoteCommand {
  static paths = [['pull']];
  static usage = Command.Usage({ description: 'Pull a snapshot from an OCI registry (digests verified)' });
  remote = Option.String({ required: true });
  name = Option.String('--name');
  async run() {
    const p = this.json ? undefined : progress(`Pulling ${this.remote}`);
    try {
      const r = await this.client.request<{ snapshot?: { id: string; name: string | null }; id?: string; existed: boolean }>('POST', '/v1/snapshots/pull', {
        ref: this.remote,
        insecure: this.insecure,
        auth: this.auth(),
        name: this.name,
      });
      const id = r.snapshot?.id ?? r.id;
      const tagged = r.existed && this.name !== undefined && r.snapshot?.name !== this.name ? `; tagged "${this.name}"` : '';
      p?.done(r.existed ? `Already present: ${id}${tagged}` : `Pulled ${id}`);
      if (this.json) printJson(r);
      else this.context.stdout.write(`${id}\n`);
    } finally {
      p?.done();
    }
  }
}

export const registryCommands = [ImagesCommand, InspectCommand, RmiCommand, GcCommand, VerifyCommand, ExportCommand, ImportCommand, PushCommand, PullCommand];
