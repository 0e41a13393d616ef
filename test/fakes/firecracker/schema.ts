/**
 * Body validation of the fake Firecracker, shaped like Firecracker's serde deserialisation: each
 * body has required and optional fields with a type, unknown keys are rejected where Firecracker
 * declares `deny_unknown_fields` (everything except `MetricsConfig`, `NetworkOverride` and
 * `VsockOverride`), and the fault message reads like serde's ("missing field `x`", "unknown field
 * `y`, expected one of …"), prefixed the way Firecracker prefixes deserialisation errors.
 */

export type FieldType = 'string' | 'boolean' | 'u32' | 'object' | 'array' | 'any';

export interface BodySchema {
  required: Record<string, FieldType>;
  optional: Record<string, FieldType>;
  /** serde `deny_unknown_fields`. */
  strict: boolean;
  /** Allowed string values per field. */
  enums?: Record<string, readonly string[]>;
}

const limiter = 'object' as const;

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
    enums: { cpu_template: ['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'], huge_pages: ['None', 'Transparent', '2M'] },
  },
  machineConfigPatch: {
    required: {},
    optional: { vcpu_count: 'u32', mem_size_mib: 'u32', smt: 'boolean', cpu_template: 'string', track_dirty_pages: 'boolean', huge_pages: 'string' },
    strict: true,
    enums: { huge_pages: ['None', 'Transparent', '2M'] },
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
      mem_backend: 'object',
      mem_file_path: 'string',
      track_dirty_pages: 'boolean',
      enable_diff_snapshots: 'boolean',
      resume_vm: 'boolean',
      network_overrides: 'array',
      vsock_override: 'object',
      clock_realtime: 'boolean',
    },
    strict: true,
  },
  memBackend: { required: { backend_type: 'string', backend_path: 'string' }, optional: {}, strict: true, enums: { backend_type: ['File', 'Uffd'] } },
  networkOverride: { required: { iface_id: 'string', host_dev_name: 'string' }, optional: {}, strict: false },
  vsockOverride: { required: { uds_path: 'string' }, optional: {}, strict: false },
} satisfies Record<string, BodySchema>;

/** Thrown for a body Firecracker would fail to deserialise; the message is the fault text. */
export class BodyError extends Error {}

const PREFIX = 'An error occurred when deserializing the json body of a request: ';

function typeOk(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'u32':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'any':
      return true;
  }
}

/** Checks `body` against `schema`, returning it typed loosely, or throws BodyError. */
export function validate(schema: BodySchema, body: unknown): Record<string, any> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BodyError(`${PREFIX}invalid type: expected struct`);
  }
  const o = body as Record<string, unknown>;
  const known = [...Object.keys(schema.required), ...Object.keys(schema.optional)];
  if (schema.strict) {
    for (const key of Object.keys(o)) {
      if (!known.includes(key)) {
        throw new BodyError(`${PREFIX}unknown field \`${key}\`, expected one of ${known.map((k) => `\`${k}\``).join(', ')}`);
      }
    }
  }
  for (const [key, type] of Object.entries(schema.required)) {
    if (!(key in o)) throw new BodyError(`${PREFIX}missing field \`${key}\``);
    if (!typeOk(o[key], type)) throw new BodyError(`${PREFIX}invalid type for \`${key}\`: expected ${type}`);
  }
  for (const [key, type] of Object.entries(schema.optional)) {
    if (key in o && o[key] !== null && !typeOk(o[key], type)) {
      throw new BodyError(`${PREFIX}invalid type for \`${key}\`: expected ${type}`);
    }
  }
  for (const [key, values] of Object.entries(schema.enums ?? {})) {
    if (typeof o[key] === 'string' && !values.includes(o[key] as string)) {
      throw new BodyError(`${PREFIX}unknown variant \`${o[key]}\`, expected one of ${values.map((v) => `\`${v}\``).join(', ')}`);
    }
  }
  return o as Record<string, any>;
}
