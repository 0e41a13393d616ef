/**
 * Pull: `host/repo:tag` (or `@sha256:…`) into the local registry over the OCI distribution API.
 *
 * The manifest is checked against the digest asked for (or the registry's Docker-Content-Digest)
 * before anything else is fetched; each layer is streamed straight into the blob store, hashed on
 * the way, and published only when it matches its descriptor. Layers already in the store are not
 * fetched again, so a pull that failed halfway resumes with what it lacks.
 */
import { RegistryDigestMismatch, RegistryInvalidLayout } from '../errors.ts';
import type { Registry } from '../registry.ts';
import type { Credentials } from './auth.ts';
import { DistributionClient, header } from './client.ts';
import { materialize, MAX_SMALL_BLOB, type Materialized, type MaterializeOptions } from './materialize.ts';
import { sha256Digest, type Descriptor } from './media-types.ts';
import { formatReference, parseReference } from './reference.ts';
import { recordRemoteBlobs } from './remote-blobs.ts';

export interface PullOptions extends MaterializeOptions {
  insecure?: boolean;
  auth?: Credentials;
}

export interface PullResult extends Materialized {
  reference: string;
  manifestDigest: string;
}

export async function pullSnapshot(registry: Registry, remote: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(remote);
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const client = new DistributionClient(ref, { insecure: options.insecure, auth: options.auth });
  const where = `${client.base}/v2/${ref.repository}`;
  try {
    const res = await client.getManifest(reference);
    const bytes = await readCapped(res.body, MAX_SMALL_BLOB, `the manifest of ${remote}`);
    const actual = sha256Digest(bytes);
    const announced = ref.digest ?? header(res.headers, 'docker-content-digest');
    if (announced && announced !== actual) {
      throw RegistryDigestMismatch(`the manifest of ${remote} hashes to ${actual}, not ${announced}`, { data: { expected: announced, actual } });
    }
    const result = await materialize(
      registry,
      bytes,
      {
        where,
        async readSmall(desc: Descriptor) {
          const r = await client.getBlob(desc.digest);
          return readCapped(r.body, MAX_SMALL_BLOB, `blob ${desc.digest}`);
        },
        async importLayer(desc, opts) {
          const r = await client.getBlob(desc.digest);
          return registry.blobs.importStream(r.body, opts);
        },
      },
      options,
    );
    const manifest = JSON.parse(bytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
    recordRemoteBlobs(registry.store.db, ref.host, ref.repository, [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
    return { ...result, reference: formatReference({ ...ref, tag: ref.digest ? ref.tag : reference }), manifestDigest: actual };
  } finally {
    await client.close();
  }
}

async function readCapped(body: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) throw RegistryInvalidLayout(`${what} is larger than ${max} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}
