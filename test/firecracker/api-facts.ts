/**
 * What Firecracker v1.16.1 accepts on the API endpoints the driver calls or the fake serves, as
 * data: per body its fields (required or not, JSON kind, the only strings allowed), whether it
 * refuses unknown keys, and per endpoint its body and boot phase; plus the fault texts and file
 * behaviours that code or tests depend on.
 *
 * Read off the v1.16.1 tag of firecracker-microvm/firecracker: the API description
 * (src/firecracker/swagger/firecracker.yaml) and, where the two differ, the serde structs in the
 * source, because those are what a request actually meets. The description is deliberately not
 * kept in this repository; facts carry over, its text does not. api-facts.test.ts checks both
 * platform/vmm/firecracker/api/types.ts and the fake against this table, so either drifting fails.
 * docs/FIRECRACKER-DRIVER.md ("Firecracker's API, as v1.16.1 defines it") says the same in prose.
 */

export const FIRECRACKER_VERSION = '1.16.1';

export type Kind = 'string' | 'boolean' | 'integer' | 'object' | 'array';

export interface Field {
  kind: Kind;
  required: boolean;
  /** The only strings accepted. */
  oneOf?: readonly string[];
  /** Also accepted, though the description does not list them. */
  alsoAccepted?: readonly string[];
  /** Values another version takes and v1.16.1 refuses: copying from the wrong version shows here. */
  refuses?: readonly string[];
  /** An object field's shape, or an array field's element shape: a key of BODIES. */
  body?: string;
}

export interface Body {
  /** The type in api/types.ts that describes this body. */
  ts: string;
  /** Unknown keys are refused (serde `deny_unknown_fields`). */
  closed: boolean;
  fields: Record<string, Field>;
  /** Fields the 1.17 development line adds, with a value: refused if closed, ignored if open. */
  later?: Record<string, unknown>;
}

const req = (kind: Kind, body?: string): Field => ({ kind, required: true, body });
const opt = (kind: Kind, body?: string): Field => ({ kind, required: false, body });
const oneOf = (values: readonly string[], required = false): Field => ({ kind: 'string', required, oneOf: values });

/** x86_64 accepts all but V1N1, aarch64 only V1N1 and None; the description lists the union. */
const CPU_TEMPLATES = ['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'];
/** v1.16.1 has no 'Transparent': that arrived in the 1.17 development line. */
const HUGE_PAGES = ['None', '2M'];
const hugePages: Field = { ...oneOf(HUGE_PAGES), refuses: ['Transparent'] };

const machine = {
  vcpu_count: req('integer'),
  mem_size_mib: req('integer'),
  smt: opt('boolean'),
  cpu_template: oneOf(CPU_TEMPLATES),
  track_dirty_pages: opt('boolean'),
  huge_pages: hugePages,
};

export const BODIES = {
  // Token buckets are the one nested body that tolerates unknown keys.
  TokenBucket: { ts: 'TokenBucket', closed: false, fields: { size: req('integer'), refill_time: req('integer'), one_time_burst: opt('integer') } },
  RateLimiter: { ts: 'RateLimiter', closed: true, fields: { bandwidth: opt('object', 'TokenBucket'), ops: opt('object', 'TokenBucket') } },
  BootSource: { ts: 'BootSource', closed: true, fields: { kernel_image_path: req('string'), boot_args: opt('string'), initrd_path: opt('string') } },
  Drive: {
    ts: 'Drive',
    closed: true,
    fields: {
      drive_id: req('string'),
      is_root_device: req('boolean'),
      partuuid: opt('string'),
      cache_type: oneOf(['Unsafe', 'Writeback']),
      // Virtio-block takes path_on_host; vhost-user-block takes socket instead.
      is_read_only: opt('boolean'),
      path_on_host: opt('string'),
      rate_limiter: opt('object', 'RateLimiter'),
      io_engine: oneOf(['Sync', 'Async']),
      socket: opt('string'),
    },
  },
  PartialDrive: {
    ts: 'PartialDrive',
    closed: true,
    fields: { drive_id: req('string'), path_on_host: opt('string'), rate_limiter: opt('object', 'RateLimiter') },
  },
  MachineConfiguration: { ts: 'MachineConfiguration', closed: true, fields: machine },
  // The description reuses MachineConfiguration for PATCH; the source takes any non-empty subset.
  MachineConfigurationPatch: {
    ts: 'PartialMachineConfiguration',
    closed: true,
    fields: Object.fromEntries(Object.entries(machine).map(([k, f]) => [k, { ...f, required: false }])),
  },
  NetworkInterface: {
    ts: 'NetworkInterface',
    closed: true,
    fields: {
      iface_id: req('string'),
      host_dev_name: req('string'),
      guest_mac: opt('string'),
      mtu: opt('integer'),
      rx_rate_limiter: opt('object', 'RateLimiter'),
      tx_rate_limiter: opt('object', 'RateLimiter'),
    },
  },
  PartialNetworkInterface: {
    ts: 'PartialNetworkInterface',
    closed: true,
    fields: { iface_id: req('string'), rx_rate_limiter: opt('object', 'RateLimiter'), tx_rate_limiter: opt('object', 'RateLimiter') },
  },
  Vsock: { ts: 'Vsock', closed: true, fields: { guest_cid: req('integer'), uds_path: req('string'), vsock_id: opt('string') } },
  Logger: {
    ts: 'Logger',
    closed: true,
    fields: {
      log_path: opt('string'),
      // The source compares levels in any letter case and takes "Warn" for "Warning".
      level: { ...oneOf(['Error', 'Warning', 'Info', 'Debug', 'Trace', 'Off']), alsoAccepted: ['Warn', 'info'] },
      show_level: opt('boolean'),
      show_log_origin: opt('boolean'),
      module: opt('string'),
    },
  },
  Metrics: { ts: 'Metrics', closed: false, fields: { metrics_path: req('string') }, later: { emit_id: true } },
  EntropyDevice: { ts: 'EntropyDevice', closed: true, fields: { rate_limiter: opt('object', 'RateLimiter') } },
  Balloon: {
    ts: 'Balloon',
    closed: true,
    fields: {
      amount_mib: req('integer'),
      deflate_on_oom: req('boolean'),
      stats_polling_interval_s: opt('integer'),
      free_page_hinting: opt('boolean'),
      free_page_reporting: opt('boolean'),
    },
  },
  BalloonUpdate: { ts: 'BalloonUpdate', closed: true, fields: { amount_mib: req('integer') } },
  InstanceActionInfo: { ts: 'InstanceActionInfo', closed: true, fields: { action_type: oneOf(['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel'], true) } },
  Vm: { ts: 'VmStateUpdate', closed: true, fields: { state: oneOf(['Paused', 'Resumed'], true) } },
  SnapshotCreateParams: {
    ts: 'SnapshotCreateParams',
    closed: true,
    fields: { snapshot_path: req('string'), mem_file_path: req('string'), snapshot_type: oneOf(['Full', 'Diff']) },
  },
  // Exactly one of mem_backend and mem_file_path: a rule across fields, checked after parsing.
  SnapshotLoadParams: {
    ts: 'SnapshotLoadParams',
    closed: true,
    fields: {
      snapshot_path: req('string'),
      mem_backend: opt('object', 'MemoryBackend'),
      mem_file_path: opt('string'),
      track_dirty_pages: opt('boolean'),
      enable_diff_snapshots: opt('boolean'),
      resume_vm: opt('boolean'),
      network_overrides: opt('array', 'NetworkOverride'),
      vsock_override: opt('object', 'VsockOverride'),
      clock_realtime: opt('boolean'),
    },
    later: { huge_pages: 'None' },
  },
  MemoryBackend: { ts: 'MemoryBackend', closed: true, fields: { backend_type: oneOf(['File', 'Uffd'], true), backend_path: req('string') } },
  NetworkOverride: { ts: 'NetworkOverride', closed: false, fields: { iface_id: req('string'), host_dev_name: req('string') } },
  VsockOverride: { ts: 'VsockOverride', closed: false, fields: { uds_path: req('string') } },
  // Answers, not requests.
  InstanceInfo: {
    ts: 'InstanceInfo',
    closed: false,
    fields: { id: req('string'), state: oneOf(['Not started', 'Running', 'Paused'], true), vmm_version: req('string'), app_name: req('string') },
  },
  FirecrackerVersion: { ts: 'FirecrackerVersion', closed: false, fields: { firecracker_version: req('string') } },
} satisfies Record<string, Body>;

export type BodyName = keyof typeof BODIES;

/** `before`: refused once the VM runs; `after`: refused until it does. */
export type Phase = 'before' | 'after' | 'any';

export interface Endpoint {
  method: 'GET' | 'PUT' | 'PATCH';
  path: string;
  /** The request body (PUT, PATCH) or the answer (GET). */
  body: BodyName;
  phase: Phase;
  /** The body field that must equal the `{id}` path segment. */
  id?: string;
}

export const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: '/', body: 'InstanceInfo', phase: 'any' },
  { method: 'GET', path: '/version', body: 'FirecrackerVersion', phase: 'any' },
  { method: 'GET', path: '/machine-config', body: 'MachineConfiguration', phase: 'any' },
  { method: 'PUT', path: '/boot-source', body: 'BootSource', phase: 'before' },
  { method: 'PUT', path: '/drives/{id}', body: 'Drive', phase: 'before', id: 'drive_id' },
  { method: 'PATCH', path: '/drives/{id}', body: 'PartialDrive', phase: 'after', id: 'drive_id' },
  { method: 'PUT', path: '/machine-config', body: 'MachineConfiguration', phase: 'before' },
  { method: 'PATCH', path: '/machine-config', body: 'MachineConfigurationPatch', phase: 'before' },
  { method: 'PUT', path: '/network-interfaces/{id}', body: 'NetworkInterface', phase: 'before', id: 'iface_id' },
  { method: 'PATCH', path: '/network-interfaces/{id}', body: 'PartialNetworkInterface', phase: 'after', id: 'iface_id' },
  { method: 'PUT', path: '/vsock', body: 'Vsock', phase: 'before' },
  { method: 'PUT', path: '/logger', body: 'Logger', phase: 'before' },
  { method: 'PUT', path: '/metrics', body: 'Metrics', phase: 'before' },
  { method: 'PUT', path: '/entropy', body: 'EntropyDevice', phase: 'before' },
  { method: 'PUT', path: '/balloon', body: 'Balloon', phase: 'before' },
  { method: 'PATCH', path: '/balloon', body: 'BalloonUpdate', phase: 'after' },
  // Per action: InstanceStart before, FlushMetrics and SendCtrlAltDel (x86_64 only) after.
  { method: 'PUT', path: '/actions', body: 'InstanceActionInfo', phase: 'any' },
  { method: 'PATCH', path: '/vm', body: 'Vm', phase: 'after' },
  { method: 'PUT', path: '/snapshot/create', body: 'SnapshotCreateParams', phase: 'after' },
  { method: 'PUT', path: '/snapshot/load', body: 'SnapshotLoadParams', phase: 'before' },
];

/**
 * Fault texts as v1.16.1 sends them in `fault_message`. Verbatim because they are strings a
 * program matches; the driver itself branches on status and shape only.
 */
export const FAULTS = {
  /** Every body that fails to parse starts so (serde's own message follows). */
  parsePrefix: 'An error occurred when deserializing the json body of a request: ',
  notBeforeBoot: 'The requested operation is not supported before starting the microVM.',
  notAfterBoot: 'The requested operation is not supported after starting the microVM.',
  /** vcpu_count 0, over 32, or odd and above 1 with smt. */
  vcpuCount: 'Machine config error: The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even number if SMT is enabled.',
  /** mem_size_mib 0, or odd with huge_pages 2M. */
  memorySize: 'Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured page size.',
  metricsAgain: 'Metrics error: Cannot initialize the metrics system due to bad user input: Reinitialization of metrics not allowed.',
  loadAfterBootResource: 'Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.',
  /** Followed by the OS error, e.g. "No such file or directory (os error 2)". */
  loggerOpen: 'Logger error: Failed to open target file: ',
} as const;

/**
 * How the two file-backed endpoints (and their `--log-path` / `--metrics-path` flags) treat
 * their files: both open with create, read, write and no truncation, at PUT time or at start-up.
 */
export const FILES = {
  logger: { createsMissingFile: true, repeatable: true },
  metrics: { createsMissingFile: true, repeatable: false },
} as const;
