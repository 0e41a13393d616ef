/**
 * `/v1/vms`: user-managed machines. `{id}` is a VM id or name. What a driver cannot do (the
 * process driver cannot snapshot or fork) is a 501 `unsupported` problem, never a fake.
 */
import { admin, arr, bool, int, json, jsonBody, map, obj, pathParam, queryParam, ref, str } from '../build.ts';
import type { PathItem } from '../types.ts';
import { VM_LIMITS } from '../../../vms/limits.ts';

const id = pathParam('id', 'VM id (`vm_…`) or name.');
const tags = ['vms'];
const vm = (description: string) => json(description, ref('Vm'));

export const vmPaths: Record<string, PathItem> = {
  '/v1/vms': {
    get: admin({
      operationId: 'listVms',
      summary: 'List VMs (running and stopped)',
      tags,
      responses: { '200': json('The VMs.', obj({ vms: arr(ref('Vm')) })) },
    }),
    post: admin({
      operationId: 'runVm',
      summary: 'Run a VM from the base image, or restored from a snapshot',
      tags,
      requestBody: jsonBody(
        obj(
          {},
          {
            name: str('Unique; lower-case letters, digits and dashes.'),
            snapshot: str('Registry snapshot (id, name or tag) to restore from.'),
            image: str('Registry base image to boot.'),
            memoryMiB: int('MiB; default 128.', { minimum: VM_LIMITS.memoryMiB.min, maximum: VM_LIMITS.memoryMiB.max }),
            vcpus: int('Default 1.', { minimum: VM_LIMITS.vcpus.min, maximum: VM_LIMITS.vcpus.max }),
            env: map(str()),
            network: bool('Attach a network interface (Firecracker driver with networking on).'),
          },
        ),
        undefined,
        false,
      ),
      errors: [400, 404, 409, 501, 502, 503],
      responses: { '201': vm('Running.') },
    }),
  },
  '/v1/vms/{id}': {
    get: admin({ operationId: 'getVm', summary: 'Inspect a VM', tags, parameters: [id], errors: [404], responses: { '200': vm('The VM.') } }),
    delete: admin({
      operationId: 'deleteVm',
      summary: 'Stop a VM if needed and remove its record and workspace',
      tags,
      parameters: [id],
      errors: [404],
      responses: { '200': json('Removed.', obj({ removed: str() })) },
    }),
  },
  '/v1/vms/{id}/logs': {
    get: admin({
      operationId: 'getVmLogs',
      summary: 'Console and agent log lines of a VM',
      tags,
      parameters: [id, queryParam('limit', 'At most this many entries (default 200).', int())],
      errors: [404],
      responses: { '200': json('The entries.', obj({ logs: arr(ref('LogEntry')) })) },
    }),
  },
  '/v1/vms/{id}/exec': {
    post: admin({
      operationId: 'execInVm',
      summary: 'Run a command in a VM, streaming its output as ndjson',
      description:
        'Errors found before the command starts (no such VM, not running, bad request) are problem documents; after that every event, the exit included, is a line of the stream.',
      tags,
      parameters: [id],
      requestBody: jsonBody(
        obj({ cmd: str() }, { args: arr(str()), env: map(str()), cwd: str(), timeoutMs: int(), stdin: str('Written to stdin, which is then closed.') }),
      ),
      errors: [400, 404, 409, 501, 502],
      responses: {
        '200': {
          description: 'One ExecEvent per line, ending with `exit` (or `error`).',
          content: { 'application/x-ndjson': { schema: str(), 'x-item-schema': ref('ExecEvent') } },
        },
      },
    }),
  },
  '/v1/vms/{id}/pause': {
    post: admin({
      operationId: 'pauseVm',
      summary: 'Pause a running VM',
      tags,
      parameters: [id],
      errors: [404, 409, 501, 502],
      responses: { '200': vm('Paused.') },
    }),
  },
  '/v1/vms/{id}/resume': {
    post: admin({
      operationId: 'resumeVm',
      summary: 'Resume a paused VM',
      tags,
      parameters: [id],
      errors: [404, 409, 501, 502],
      responses: { '200': vm('Running again.') },
    }),
  },
  '/v1/vms/{id}/snapshot': {
    post: admin({
      operationId: 'snapshotVm',
      summary: 'Snapshot a running VM (memory, state and disk, each complete) into the registry',
      tags,
      parameters: [id],
      requestBody: jsonBody(obj({}, { name: str() }), undefined, false),
      errors: [400, 404, 409, 501, 502],
      responses: { '201': json('The snapshot.', ref('Snapshot')) },
    }),
  },
  '/v1/vms/{id}/fork': {
    post: admin({
      operationId: 'forkVm',
      summary: 'Fork a running VM into clones that resume from its memory',
      tags,
      parameters: [id],
      requestBody: jsonBody(obj({}, { count: int(undefined, { minimum: 1 }) }), undefined, false),
      errors: [400, 404, 409, 501, 502, 503],
      responses: { '201': json('The clones.', obj({ clones: arr(ref('Vm')) })) },
    }),
  },
  '/v1/vms/{id}/kill': {
    post: admin({
      operationId: 'killVm',
      summary: 'Stop a VM, keeping its record',
      tags,
      parameters: [id],
      errors: [404],
      responses: { '200': vm('Stopped.') },
    }),
  },
};
