/**
 * Request and response bodies of Firecracker's HTTP API as v1.16.1 defines them, written by hand
 * (docs/FIRECRACKER-DRIVER.md, "Firecracker's API, as v1.16.1 defines it"). Field names are the
 * wire names (snake_case); optional fields are omitted from the JSON when undefined, because
 * `PUT /machine-config` resets every omitted optional field and Firecracker rejects unknown keys.
 * Nothing from later versions belongs here: a 1.16.1 binary refuses it. test/firecracker/
 * api-facts.test.ts compares every body with the recorded v1.16.1 facts.
 */

export interface TokenBucket {
  /** Bucket size in bytes or operations. */
  size: number;
  /** Milliseconds to refill a full bucket. */
  refill_time: number;
  one_time_burst?: number;
}

export interface RateLimiter {
  bandwidth?: TokenBucket;
  ops?: TokenBucket;
}

export interface BootSource {
  kernel_image_path: string;
  /** Replaces Firecracker's default cmdline entirely (root=/dev/vda is still appended). */
  boot_args?: string;
  initrd_path?: string;
}

export type CacheType = 'Unsafe' | 'Writeback';
export type IoEngine = 'Sync' | 'Async';

export interface Drive {
  drive_id: string;
  is_root_device: boolean;
  path_on_host?: string;
  is_read_only?: boolean;
  partuuid?: string;
  cache_type?: CacheType;
  io_engine?: IoEngine;
  rate_limiter?: RateLimiter;
  /** vhost-user-block socket (then no path_on_host). */
  socket?: string;
}

/** Post-boot `PATCH /drives/{id}`: swap the backing file or update the limiter. */
export interface PartialDrive {
  drive_id: string;
  path_on_host?: string;
  rate_limiter?: RateLimiter;
}

/** 4 KiB pages or 2 MiB hugetlbfs pages ('Transparent' exists only after 1.16.1). */
export type HugePages = 'None' | '2M';
export type CpuTemplate = 'C3' | 'T2' | 'T2S' | 'T2CL' | 'T2A' | 'V1N1' | 'None';

export interface MachineConfiguration {
  vcpu_count: number;
  mem_size_mib: number;
  smt?: boolean;
  /** Deprecated static template. */
  cpu_template?: CpuTemplate;
  track_dirty_pages?: boolean;
  huge_pages?: HugePages;
}

export type PartialMachineConfiguration = Partial<MachineConfiguration>;

export interface NetworkInterface {
  iface_id: string;
  /** TAP device name, shorter than 16 bytes. */
  host_dev_name: string;
  guest_mac?: string;
  mtu?: number;
  rx_rate_limiter?: RateLimiter;
  tx_rate_limiter?: RateLimiter;
}

export interface PartialNetworkInterface {
  iface_id: string;
  rx_rate_limiter?: RateLimiter;
  tx_rate_limiter?: RateLimiter;
}

export interface Vsock {
  /** At least 3 (0–2 are reserved; the host is CID 2). */
  guest_cid: number;
  /** Bound by Firecracker at PUT time, relative to its working directory. */
  uds_path: string;
  /** Deprecated. */
  vsock_id?: string;
}

export type LogLevel = 'Error' | 'Warning' | 'Info' | 'Debug' | 'Trace' | 'Off';

export interface Logger {
  log_path?: string;
  level?: LogLevel;
  show_level?: boolean;
  show_log_origin?: boolean;
  module?: string;
}

export interface Metrics {
  /** Created if missing. */
  metrics_path: string;
}

export interface EntropyDevice {
  rate_limiter?: RateLimiter;
}

export interface Balloon {
  amount_mib: number;
  deflate_on_oom: boolean;
  stats_polling_interval_s?: number;
  free_page_hinting?: boolean;
  free_page_reporting?: boolean;
}

/** Post-boot `PATCH /balloon` takes only the target size. */
export interface BalloonUpdate {
  amount_mib: number;
}

export type ActionType = 'InstanceStart' | 'SendCtrlAltDel' | 'FlushMetrics';

export interface InstanceActionInfo {
  action_type: ActionType;
}

export interface VmStateUpdate {
  state: 'Paused' | 'Resumed';
}

export type SnapshotType = 'Full' | 'Diff';

export interface SnapshotCreateParams {
  /** The VM-state file (truncated if present). */
  snapshot_path: string;
  /** The guest memory file (sized to guest memory). */
  mem_file_path: string;
  /** `Full` by default; `Diff` is a developer preview. */
  snapshot_type?: SnapshotType;
}

export interface MemoryBackend {
  backend_type: 'File' | 'Uffd';
  /** File: the memory file (mapped MAP_PRIVATE, must stay unmodified); Uffd: the handler's socket. */
  backend_path: string;
}

export interface NetworkOverride {
  iface_id: string;
  host_dev_name: string;
}

export interface VsockOverride {
  uds_path: string;
}

export interface SnapshotLoadParams {
  snapshot_path: string;
  /** Exactly one of `mem_backend` and the deprecated `mem_file_path`. */
  mem_backend?: MemoryBackend;
  /** Deprecated (answer carries `Deprecation: true`). */
  mem_file_path?: string;
  /** Not saved in the snapshot: resend it on every load. */
  track_dirty_pages?: boolean;
  /** Deprecated alias of track_dirty_pages. */
  enable_diff_snapshots?: boolean;
  /** The VM comes back Paused unless true. */
  resume_vm?: boolean;
  network_overrides?: NetworkOverride[];
  vsock_override?: VsockOverride;
  /** x86_64, since 1.16.0: advance kvmclock by the elapsed wall time. */
  clock_realtime?: boolean;
}

export type InstanceState = 'Not started' | 'Running' | 'Paused';

/** `GET /`. */
export interface InstanceInfo {
  id: string;
  state: InstanceState;
  vmm_version: string;
  app_name: string;
}

/** `GET /version`. */
export interface FirecrackerVersion {
  firecracker_version: string;
}

/** `GET /vm/config`: the whole configuration, kebab-case top-level keys like `--config-file`. */
export interface FullVmConfiguration {
  'boot-source'?: BootSource;
  drives?: Drive[];
  'machine-config'?: MachineConfiguration;
  'network-interfaces'?: NetworkInterface[];
  vsock?: Vsock | null;
  logger?: Logger | null;
  metrics?: Metrics | null;
  balloon?: Balloon | null;
  entropy?: EntropyDevice | null;
  'mmds-config'?: Record<string, unknown> | null;
  'cpu-config'?: Record<string, unknown> | null;
  [key: string]: unknown;
}
