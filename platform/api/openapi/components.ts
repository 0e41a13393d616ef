/**
 * Shared schemas of the API document (`#/components/schemas`): the problem document every error
 * leaves as, and the resources more than one operation returns. Written from the services'
 * return types (functions/service.ts, vms/service.ts, registry/types.ts, network/views.ts,
 * async/views.ts, auth/tokens.ts, secrets/store.ts); the contract test checks them against real
 * responses.
 */
import { arr, bool, dateTime, int, map, num, nullable, obj, ref, str, anyObject } from './build.ts';
import type { JsonSchema } from './types.ts';

const timing = obj({ step: str('Step name, e.g. `boot`, `spawn`, `agent-restore`, `total`.'), ms: num('Duration in milliseconds.') });

const settings = obj(
  {},
  {
    minWarm: int('Idle instances kept ready (0 = scale to zero).', { minimum: 0 }),
    maxInstances: int(undefined, { minimum: 1 }),
    idleTimeoutMs: int(),
    concurrency: int('Requests one instance serves at once.'),
    isolation: str('`reuse` keeps instances; `fresh` gives every request a new one.', { enum: ['reuse', 'fresh'] }),
    timeoutMs: int('Per-request deadline; past it the caller gets 504 `function_timeout`.'),
    memoryMiB: int(),
    vcpus: int(),
    network: bool('Whether the function may reach the network.'),
    queueSize: int('Requests waiting for an instance at most; past it 429.'),
    maxBodyBytes: int(),
    auth: str('`token`: invocations need a Bearer token.', { enum: ['none', 'token'] }),
    cors: nullable(anyObject('CORS policy answered by the platform.')),
  },
  'Limits and behaviour of a version, merged from ignition.json / package.json, deploy flags and defaults.',
);

const snapshotFile = obj({ digest: str(undefined, { pattern: '^sha256:[0-9a-f]{64}$' }), size: int() });

const snapshot = obj(
  {
    id: str(undefined, { pattern: '^snap_[0-9a-f]{20}$' }),
    name: nullable(str()),
    tags: arr(str()),
    parentId: nullable(str('The snapshot this one was taken from; may name one this host lacks.')),
    kind: str(undefined, { enum: ['golden', 'fork', 'manual', 'base-image'] }),
    driver: str(undefined, { enum: ['process', 'firecracker'] }),
    config: anyObject('What the driver needs to restore (vCPUs, memory, agent port…).'),
    files: map(snapshotFile, 'Files by role: memory, state, disk, bundle, sourcemap, rootfs, kernel…'),
    labels: map(str()),
    size: int('Sum of the logical sizes of the files.'),
    createdAt: dateTime(),
  },
  { children: arr(str(), 'Ids of snapshots taken from this one (inspect only).') },
);

const treeNode: JsonSchema = obj({
  id: str(),
  name: nullable(str()),
  tags: arr(str()),
  kind: str(),
  driver: str(),
  size: int(),
  createdAt: dateTime(),
  parentId: nullable(str()),
  orphan: bool('True when `parentId` names a snapshot not in the catalogue.'),
  children: arr(ref('SnapshotTreeNode')),
});

const materialized = obj({
  snapshot: ref('Snapshot'),
  existed: bool('The snapshot was already in the catalogue.'),
  imported: int('Layers fetched.'),
  skipped: int('Layers already present.'),
});

const execEvent: JsonSchema = {
  description: 'One line of the exec stream.',
  oneOf: [
    obj({ type: str(undefined, { enum: ['stdout', 'stderr'] }), data: str() }),
    obj({ type: { const: 'exit' }, code: nullable(int()), signal: nullable(str()), timedOut: bool(), durationMs: num() }),
    obj({ type: { const: 'error' }, code: str(), message: str() }),
  ],
};

const lease = obj({
  vmId: str(),
  kind: str(),
  slot: int(),
  netns: nullable(str()),
  tap: str(),
  guest: obj({ ip: str(), prefix: int(), gateway: str(), mac: str(), mtu: int() }),
  address: str(),
  policy: anyObject(),
  leasedAt: int(),
});

const invocation = obj({
  id: str(),
  function: str(),
  kind: str('`async` or `cron`.'),
  cronId: nullable(str()),
  status: str(undefined, { enum: ['queued', 'running', 'succeeded', 'failed', 'dead'] }),
  attempts: int(),
  maxAttempts: int(),
  request: obj({ method: str(), path: str() }),
  idempotencyKey: nullable(str()),
  createdAt: dateTime(),
  updatedAt: dateTime(),
  startedAt: nullable(dateTime()),
  finishedAt: nullable(dateTime()),
  nextAttemptAt: nullable(dateTime()),
  lastError: nullable(obj({ code: str(), message: str() })),
  result: nullable(
    obj(
      { status: int(), headers: map(str()), size: int(), truncated: bool() },
      { body: str('The body as text, when it is valid UTF-8.'), bodyBase64: str('The body as base64, otherwise.') },
    ),
  ),
  statusUrl: str(),
});

export const schemas: Record<string, JsonSchema> = {
  Problem: obj(
    {
      type: str('`urn:ignition:error:<code>`.'),
      title: str('Short, the same for every problem of this code.'),
      status: int('The HTTP status.', { minimum: 400, maximum: 599 }),
      detail: str('A sentence naming the resource and what went wrong.'),
      code: str('Stable snake_case code; the catalogue is pinned by test/unit/errors.test.ts.', { pattern: '^[a-z][a-z0-9_]*$' }),
    },
    {
      phase: str('Where it failed (e.g. `build`, `boot`, `restore`, `snapshot`, `vmm`).'),
      instance: str('The request path.'),
      requestId: str('Same as the `x-request-id` header.'),
    },
    'RFC 9457 problem details. Capability errors add fields of their own (e.g. `function`, `limit`).',
  ),
  Timing: timing,
  FunctionSettings: settings,
  VersionRef: obj({ id: str(undefined, { pattern: '^ver_' }), seq: int(undefined, { minimum: 1 }), digest: str() }),
  AliasRoute: obj({ version: str(), weight: int(undefined, { minimum: 0, maximum: 100 }) }, { seq: int() }),
  Alias: obj({ name: str(), routes: arr(ref('AliasRoute'), 'One version, or a split between two whose weights sum to 100.') }),
  AliasRecord: obj({ fn: str(), name: str(), routes: arr(ref('AliasRoute')), updatedAt: int('ms since the epoch.') }),
  PoolStats: obj(
    { version: str(), instances: int(), starting: int(), idle: int(), inflight: int(), queued: int() },
    {
      startFailure: obj(
        {
          code: str(),
          detail: str('The failure in full (callers of /fn get only `function_unavailable`).'),
          data: anyObject("Its own fields, such as the machine id and the agent's last output lines."),
          failures: int('Consecutive failed starts.', { minimum: 1 }),
          at: dateTime(),
          retryAt: dateTime('When starts resume (1 s after the first failure, doubling up to 60 s).'),
        },
        {},
        'Present while instance starts fail and are backed off.',
      ),
    },
  ),
  Function: obj(
    {
      name: str(),
      createdAt: dateTime(),
      updatedAt: dateTime(),
      latest: nullable(ref('VersionRef')),
      envKeys: arr(str(), 'Names of the environment variables (never values).'),
      aliases: arr(ref('Alias')),
      pools: arr(ref('PoolStats')),
    },
    { settings: ref('FunctionSettings') },
  ),
  Version: obj({
    id: str(),
    seq: int(),
    digest: str(),
    snapshot: str('The golden snapshot it restores from.'),
    createdAt: dateTime(),
    settings: ref('FunctionSettings'),
    envKeys: arr(str()),
  }),
  Deployment: obj({
    function: str(),
    version: obj({ id: str(), seq: int(), digest: str(), snapshot: str() }),
    created: bool('False when the same code and settings were already deployed (nothing changed).'),
    url: str('Where to invoke it.'),
    timings: arr(timing),
  }),
  Instance: obj({ id: str(), version: str(), pid: nullable(int()), state: str(), inflight: int(), served: int(), lastUsed: dateTime(), timings: arr(timing) }),
  LogEntry: obj({
    id: int(),
    fn: str(),
    version: nullable(str()),
    machine: nullable(str()),
    invocation: nullable(str()),
    level: str(),
    time: int('ms since the epoch.'),
    message: str(),
  }),
  Vm: obj({
    id: str(undefined, { pattern: '^vm_' }),
    name: nullable(str()),
    driver: str(),
    state: str(undefined, { enum: ['starting', 'running', 'paused', 'stopped', 'failed'] }),
    pid: nullable(int()),
    workspace: str(),
    memoryMiB: nullable(int("Guest memory (a restored VM has its snapshot's); null for a VM a previous daemon ran.")),
    vcpus: nullable(int()),
    source: nullable(str('The snapshot or VM it came from.')),
    timings: arr(timing),
    createdAt: dateTime(),
  }),
  ExecEvent: execEvent,
  Snapshot: snapshot,
  SnapshotTreeNode: treeNode,
  Materialized: materialized,
  NetworkLease: lease,
  Invocation: invocation,
  Cron: obj({
    id: str(),
    function: str(),
    schedule: str(),
    method: str(),
    path: str(),
    enabled: bool('False while the trigger is paused.'),
    lastFiredAt: nullable(dateTime()),
    nextAt: nullable(dateTime('When it fires next; null while paused.')),
    createdAt: dateTime(),
  }),
  Token: obj({
    id: str(undefined, { pattern: '^tok_' }),
    name: str(),
    scope: str(undefined, { enum: ['admin', 'invoke'] }),
    function: nullable(str('For invoke tokens: the one function it may call, or null for all.')),
    createdAt: int('ms since the epoch.'),
    lastUsedAt: nullable(int()),
    revokedAt: nullable(int()),
  }),
  Secret: obj({ name: str(), createdAt: int('ms since the epoch.'), updatedAt: int('ms since the epoch.') }),
};
