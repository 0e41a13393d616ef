/**
 * `/v1/snapshots` (the registry) and `/v1/images` (base images in it). `{id}` is a snapshot id,
 * name or tag. Layouts move by path on the daemon host or as a tar over the connection.
 */
import { admin, arr, bool, int, json, jsonBody, obj, pathParam, queryParam, ref, str } from '../build.ts';
import type { JsonSchema, PathItem } from '../types.ts';

const id = pathParam('id', 'Snapshot id (`snap_…`), name or tag.');
const tags = ['snapshots'];
const auth: JsonSchema = { description: 'Credentials for the remote registry.', oneOf: [obj({ username: str(), password: str() }), obj({ token: str() })] };
const pulled: JsonSchema = { allOf: [ref('Materialized'), obj({ reference: str(), manifestDigest: str() })] };
const blobProblem = obj({ digest: str() }, {}, 'A blob that is missing or corrupt, and who needs it.');

export const snapshotPaths: Record<string, PathItem> = {
  '/v1/snapshots': {
    get: admin({
      operationId: 'listSnapshots',
      summary: 'List snapshots',
      tags,
      parameters: [
        queryParam('kind', 'Only this kind.', { type: 'string', enum: ['golden', 'fork', 'manual', 'base-image'] }),
        queryParam('label', 'Only snapshots with this label (`key` or `key=value`).'),
      ],
      errors: [400],
      responses: { '200': json('The snapshots.', obj({ snapshots: arr(ref('Snapshot')) })) },
    }),
  },
  '/v1/snapshots/tree': {
    get: admin({
      operationId: 'getSnapshotTree',
      summary: 'Lineage of every snapshot, as JSON or (`format=text`) as an indented tree',
      tags,
      parameters: [queryParam('format', '`text` for the plain-text tree.', { type: 'string', enum: ['text', 'json'] })],
      responses: {
        '200': {
          description: 'The forest of snapshots.',
          content: { 'application/json': { schema: obj({ tree: arr(ref('SnapshotTreeNode')) }) }, 'text/plain': { schema: str() } },
        },
      },
    }),
  },
  '/v1/snapshots/gc': {
    post: admin({
      operationId: 'collectGarbage',
      summary: 'Delete blobs no snapshot refers to',
      tags,
      requestBody: jsonBody(obj({}, { dryRun: bool('Report only.') }), undefined, false),
      errors: [400],
      responses: {
        '200': json(
          'What was (or would be) freed.',
          obj({
            removed: arr(str()),
            freedBytes: int(),
            freedDiskBytes: int(),
            kept: int(),
            pinned: arr(str()),
            tempsRemoved: int(),
            pinsCleared: int(),
            dryRun: bool(),
          }),
        ),
      },
    }),
  },
  '/v1/snapshots/verify': {
    post: admin({
      operationId: 'verifySnapshots',
      summary: 'Re-hash every blob and report missing or corrupt ones',
      tags,
      responses: {
        '200': json(
          'The report.',
          obj({
            ok: bool(),
            checked: int(),
            bytes: int(),
            missing: arr(blobProblem),
            corrupt: arr(blobProblem),
            broken: arr(str('Snapshot ids that cannot be restored.')),
          }),
        ),
      },
    }),
  },
  '/v1/snapshots/import': {
    post: admin({
      operationId: 'importSnapshots',
      summary: 'Import an OCI image layout: from a path on the daemon host (JSON), or as a tar body',
      tags,
      parameters: [queryParam('ref', 'Tar body only: the layout reference to import.'), queryParam('name', 'Tar body only: a name for the snapshot.')],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: obj({ path: str('A layout directory or .tar on the daemon host.') }, { refName: str(), name: str(), tags: arr(str()) }),
          },
          'application/x-tar': { schema: str(undefined, { format: 'binary' }) },
        },
      },
      errors: [400, 404, 409, 413, 422],
      responses: { '201': json('What was imported (existing snapshots say `existed: true`).', obj({ imported: arr(ref('Materialized')) })) },
    }),
  },
  '/v1/snapshots/pull': {
    post: admin({
      operationId: 'pullSnapshot',
      summary: 'Pull a snapshot from an OCI registry',
      tags,
      requestBody: jsonBody(
        obj({ ref: str('host[:port]/repository[:tag|@digest]') }, { insecure: bool('Allow plain HTTP.'), auth, name: str(), tags: arr(str()) }),
      ),
      errors: [400, 401, 404, 409, 422, 502],
      responses: {
        '201': json('Pulled.', pulled),
        '200': json('Already here (`existed: true`); nothing fetched.', pulled),
      },
    }),
  },
  '/v1/snapshots/{id}': {
    get: admin({
      operationId: 'getSnapshot',
      summary: 'Inspect a snapshot',
      tags,
      parameters: [id],
      errors: [404],
      responses: { '200': json('The snapshot, with its children.', ref('Snapshot')) },
    }),
    delete: admin({
      operationId: 'deleteSnapshot',
      summary: 'Delete a snapshot (its blobs go at the next GC)',
      description: 'Refused (409) for the golden snapshot of a function version, and for a snapshot with descendants unless `force`.',
      tags,
      parameters: [id, queryParam('force', '`1`, `true` or `yes`: also when it has descendants.')],
      errors: [404, 409],
      responses: { '200': json('Removed.', obj({ removed: ref('Snapshot') })) },
    }),
  },
  '/v1/snapshots/{id}/tags': {
    post: admin({
      operationId: 'tagSnapshot',
      summary: 'Add a tag (moves it if another snapshot has it)',
      tags,
      parameters: [id],
      requestBody: jsonBody(obj({ tag: str() })),
      errors: [400, 404],
      responses: { '200': json('The snapshot.', ref('Snapshot')) },
    }),
  },
  '/v1/snapshots/{id}/tags/{tag}': {
    delete: admin({
      operationId: 'untagSnapshot',
      summary: 'Remove a tag',
      description: 'Refused (409) on the golden snapshot of a function version, like a delete.',
      tags,
      parameters: [id, pathParam('tag', 'The tag.')],
      errors: [400, 404, 409],
      responses: { '200': json('The snapshot.', ref('Snapshot')) },
    }),
  },
  '/v1/snapshots/{id}/layout.tar': {
    get: admin({
      operationId: 'exportSnapshotTar',
      summary: 'The snapshot as an OCI image layout tar, streamed',
      tags,
      parameters: [id, queryParam('ref', 'The reference name inside the layout.')],
      errors: [404],
      responses: {
        '200': {
          description: 'The tar.',
          headers: {
            'docker-content-digest': { description: 'Digest of the manifest.', required: true, schema: str(undefined, { pattern: '^sha256:[0-9a-f]{64}$' }) },
          },
          content: { 'application/x-tar': { schema: str(undefined, { format: 'binary' }) } },
        },
      },
    }),
  },
  '/v1/snapshots/{id}/export': {
    post: admin({
      operationId: 'exportSnapshot',
      summary: 'Write the snapshot as an OCI image layout to a path on the daemon host',
      tags,
      parameters: [id],
      requestBody: jsonBody(obj({ path: str('A directory, or a path ending in .tar.') }, { refName: str() })),
      errors: [400, 404, 409],
      responses: {
        '201': json('Written.', obj({ path: str(), format: str(undefined, { enum: ['dir', 'tar'] }), manifestDigest: str(), refName: str(), bytes: int() })),
      },
    }),
  },
  '/v1/snapshots/{id}/push': {
    post: admin({
      operationId: 'pushSnapshot',
      summary: 'Push a snapshot to an OCI registry',
      tags,
      parameters: [id],
      requestBody: jsonBody(
        obj({ ref: str('host[:port]/repository[:tag]') }, { insecure: bool(), auth, chunkSize: int(undefined, { minimum: 1 }), mountFrom: str() }),
      ),
      errors: [400, 401, 404, 502],
      responses: {
        '200': json('Pushed.', obj({ reference: str(), manifestDigest: str(), uploaded: int(), skipped: int(), mounted: int(), bytesSent: int() })),
      },
    }),
  },
  '/v1/images': {
    get: admin({
      operationId: 'listImages',
      summary: 'List base images',
      tags: ['images'],
      responses: { '200': json('The base-image snapshots.', obj({ images: arr(ref('Snapshot')) })) },
    }),
    post: admin({
      operationId: 'addImage',
      summary: 'Add an ext4 root filesystem (and optionally a kernel) on the daemon host as a base image',
      tags: ['images'],
      requestBody: jsonBody(obj({ path: str('Absolute path of the ext4 image.') }, { name: str(), kernel: str('Path of a kernel image.') })),
      errors: [400, 409],
      responses: { '201': json('The base image.', ref('Snapshot')) },
    }),
  },
};
