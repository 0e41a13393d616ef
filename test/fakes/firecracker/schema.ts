/**
 * Body validation of the fake Firecracker, shaped like Firecracker's serde deserialisation: each
 * body has required and optional fields with a type (nested bodies are checked the same way),
 * unknown keys are rejected where Firecracker declares `deny_unknown_fields` (everything except
 * `MetricsConfig`, `TokenBucketConfig`, `NetworkOverride` and `VsockOverride`), and the fault
 * message reads like serde's ("missing field `x`", "unknown field `y`, expected one of …"),
 * prefixed the way Firecracker prefixes deserialisation errors. These tables are written apart
 * from test/firecracker/api-facts.ts on purpose: api-facts.test.ts drives the fake to check that
 * the two agree.
 */

/** A nested body: `{ body }` for an object, `{ each }` for an array of them. */
export type FieldType = 'string' | 'boolean' | 'u32' | 'object' | 'array' | 'any' | { body: BodySchema } | { each: BodySchema };

export interface BodySchema {
  required: Record<string, FieldType>;
  optional: Record<string, FieldType>;
  /** serde `deny_unknown_fields`. */
  strict: boolean;
  /** Allowed string values per field. */
  enums?: Record<string, readonly string[]>;
  /** Fields whose values are compared in any letter case (the logger's level). */
  caseless?: readonly string[];
}

const tokenBucket: BodySchema = { required: { size: 'u32', refill_time: 'u32' }, optional: { one_time_burst: 'u32' }, strict: false };
const rateLimiter: BodySchema = { required: {}, optional: { bandwidth: { body: tokenBucket }, ops: { body: tokenBucket } }, strict: true };
const limiter = { body: rateLimiter };
const memBackend: BodySchema = {
  required: { backend_type: 'string', backend_path: 'string' },
  optional: {},
  strict: true,
  enums: { backend_type: ['File', 'Uffd'] },
};
const networkOverride: BodySchema = { required: { iface_id: 'string', host_dev_name: 'string' }, optional: {}, strict: false };
const vsockOverride: BodySchema = { required: { uds_path: 'string' }, optional: {}, strict: false };
/** Firecracker 1.16.1 backs guest memory with 4 KiB pages or 2 MiB hugetlbfs pages, nothing else. */
const HUGE_PAGES = ['None', '2M'];

export const schemas = {
  bootSource: { required: { kernel_image_path: 'string' }, optional: { boot_args: 'string', initrd_path: 'string' }, strict: true },
  drive: {
    required: { drive_id: 'string', is_root_device: 'boolean' },
    optional: {
      partuuid: 'string',
      cache_type: 'string',
      is_read_only: 'boolean',
      path_on_host: 'string',
      rate_limiter: limiter,
      io_engine: 'string',
      socket: 'string',
    },
    strict: true,
    enums: { cache_type: ['Unsafe', 'Writeback'], io_engine: ['Sync', 'Async'] },
  },
  drivePatch: { required: { drive_id: 'string' }, optional: { path_on_host: 'string', rate_limiter: limiter }, strict: true },
  machineConfig: {
    required: { vcpu_count: 'u32', mem_size_mib: 'u32' },
    optional: { smt: 'boolean', cpu_template: 'string', track_dirty_pages: 'boolean', huge_pages: 'string' },
    strict: true,
    enums: { cpu_template: ['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'], huge_pages: HUGE_PAGES },
  },
  machineConfigPatch: {
    required: {},
    optional: { vcpu_count: 'u32', mem_size_mib: 'u32', smt: 'boolean', cpu_template: 'string', track_dirty_pages: 'boolean', huge_pages: 'string' },
    strict: true,
    enums: { cpu_template: ['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'], huge_pages: HUGE_PAGES },
  },
  networkInterface: {
    required: { iface_id: 'string', host_dev_name: 'string' },
    optional: { guest_mac: 'string', mtu: 'u32', rx_rate_limiter: limiter, tx_rate_limiter: limiter },
    strict: true,
  },
  networkInterfacePatch: { required: { iface_id: 'string' }, optional: { rx_rate_limiter: limiter, tx_rate_limiter: limiter }, strict: true },
  vsock: { required: { guest_cid: 'u32', uds_path: 'string' }, optional: { vsock_id: 'string' }, strict: true },
  logger: {
    required: {},
    optional: { log_path: 'string', level: 'string', show_level: 'boolean', show_log_origin: 'boolean', module: 'string' },
    strict: true,
    // Firecracker parses the level itself: any letter case, and "Warn" as well as "Warning".
    enums: { level: ['Error', 'Warning', 'Warn', 'Info', 'Debug', 'Trace', 'Off'] },
    caseless: ['level'],
  },
  metrics: { required: { metrics_path: 'string' }, optional: {}, strict: false },
  entropy: { required: {}, optional: { rate_limiter: limiter }, strict: true },
  balloon: {
    required: { amount_mib: 'u32', deflate_on_oom: 'boolean' },
    optional: { stats_polling_interval_s: 'u32', free_page_hinting: 'boolean', free_page_reporting: 'boolean' },
    strict: true,
  },
  balloonPatch: { required: { amount_mib: 'u32' }, optional: {}, strict: true },
  action: {
    required: { action_type: 'string' },
    optional: {},
    strict: true,
    enums: { action_type: ['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel'] },
  },
  vm: { required: { state: 'string' }, optional: {}, strict: true, enums: { state: ['Paused', 'Resumed'] } },
  snapshotCreate: {
    required: { snapshot_path: 'string', mem_file_path: 'string' },
    optional: { snapshot_type: 'string' },
    strict: true,
    enums: { snapshot_type: ['Full', 'Diff'] },
  },
  snapshotLoad: {
    required: { snapshot_path: 'string' },
    optional: {
      mem_backend: { body: memBackend },
      mem_file_path: 'string',
      track_dirty_pages: 'boolean',
      enable_diff_snapshots: 'boolean',
      resume_vm: 'boolean',
      network_overrides: { each: networkOverride },
      vsock_override: { body: vsockOverride },
      clock_realtime: 'boolean',
    },
    strict: true,
  },
} satisfies Record<string, BodySchema>;

/** Thrown for a body Firecracker would fail to deserialise; the message is the fault text. */
export class BodyError extends Error {}

const PREFIX = 'An error occurred when deserializing the json body of a request: ';

function typeName(type: FieldType): string {
  return typeof type === 'string' ? type : 'body' in type ? 'struct' : 'sequence';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Throws the serde-like detail (without the prefix) for a value that does not fit `type`. */
function checkValue(key: string, value: unknown, type: FieldType): void {
  const wrong = () => new Error(`invalid type for \`${key}\`: expected ${typeName(type)}`);
  if (typeof type !== 'string') {
    if ('body' in type) {
      if (!isObject(value)) throw wrong();
      return checkBody(type.body, value);
    }
    if (!Array.isArray(value)) throw wrong();
    for (const item of value) {
      if (!isObject(item)) throw wrong();
      checkBody(type.each, item);
    }
    return;
  }
  const ok =
    type === 'string'
      ? typeof value === 'string'
      : type === 'boolean'
        ? typeof value === 'boolean'
        : type === 'u32'
          ? typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff
          : type === 'object'
            ? isObject(value)
            : type === 'array'
              ? Array.isArray(value)
              : true;
  if (!ok) throw wrong();
}

function checkBody(schema: BodySchema, o: Record<string, unknown>): void {
  const known = [...Object.keys(schema.required), ...Object.keys(schema.optional)];
  if (schema.strict) {
    for (const key of Object.keys(o)) {
      if (!known.includes(key)) throw new Error(`unknown field \`${key}\`, expected one of ${known.map((k) => `\`${k}\``).join(', ')}`);
    }
  }
  for (const [key, type] of Object.entries(schema.required)) {
    if (!(key in o)) throw new Error(`missing field \`${key}\``);
    checkValue(key, o[key], type);
  }
  // serde reads null as an absent Option.
  for (const [key, type] of Object.entries(schema.optional)) if (key in o && o[key] !== null) checkValue(key, o[key], type);
  for (const [key, values] of Object.entries(schema.enums ?? {})) {
    const v = o[key];
    if (typeof v !== 'string') continue;
    const found = schema.caseless?.includes(key) ? values.some((x) => x.toLowerCase() === v.toLowerCase()) : values.includes(v);
    if (!found) throw new Error(`unknown variant \`${v}\`, expected one of ${values.map((x) => `\`${x}\``).join(', ')}`);
  }
}

/** Checks `body` against `schema`, returning it typed loosely, or throws BodyError. */
export function validate(schema: BodySchema, body: unknown): Record<string, any> {
  if (!isObject(body)) throw new BodyError(`${PREFIX}invalid type: expected struct`);
  try {
    checkBody(schema, body);
  } catch (err) {
    throw new BodyError(`${PREFIX}${(err as Error).message}`);
  }
  return body as Record<string, any>;
}
