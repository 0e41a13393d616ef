/**
 * The fake Firecracker's VMM: configuration state, the boot phase machine, actions, pause/resume
 * and snapshot create/load, with Firecracker 1.16.1's rules (docs/FIRECRACKER-DRIVER.md, "Firecracker's
 * API, as v1.16.1 defines it"):
 *  - boot-specific resources (boot-source, drives, net, vsock, machine-config, entropy, balloon)
 *    mark the process as a boot path, after which `PUT /snapshot/load` is refused;
 *  - files named in the API are opened at PUT time, relative to the working directory;
 *  - snapshot create needs a paused VM and resets vsock connections;
 *  - a failed load answers 400 and then the process exits.
 * The guest is the real agent (./guest.ts).
 */
import { appendFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Fault } from './routes.ts';
import { Guest, VsockMuxer } from './guest.ts';
import { osError, type LoggerConfig } from './logger.ts';
import { readMemoryFile, readStateFile, writeMemoryFile, writeStateFile, type GuestImage, type SnapshotConfig } from './snapshot-file.ts';

export const FAKE_VERSION = '1.16.1';

export interface Delays {
  /** Per API call, in ms. */
  call: number;
  instanceStart: number;
  /** Kernel boot before the agent is started. */
  guestBoot: number;
  snapshotCreate: number;
  snapshotLoad: number;
}

export const INSTANT: Delays = { call: 0, instanceStart: 0, guestBoot: 0, snapshotCreate: 0, snapshotLoad: 0 };
/** Orders of magnitude from Firecracker's SPECIFICATION.md and common measurements. */
export const REALISTIC: Delays = { call: 1, instanceStart: 5, guestBoot: 120, snapshotCreate: 40, snapshotLoad: 5 };

export interface FakeVmmOptions {
  id: string;
  /** Base of relative API paths; default: the process's working directory at the time of use. */
  cwd?: string;
  privateDir: string;
  delays: Delays;
  /** Appends a line to the Firecracker log (if configured). */
  log: (level: string, message: string) => void;
  /** `PUT /logger`: reconfigures the log; throws when its file cannot be opened. */
  configureLogger: (config: LoggerConfig) => void;
  metricsPath?: string;
  /** Ends the process (fatal load error, guest shutdown). */
  exit: (code: number, reason: string) => void;
  console: (line: string) => void;
}

type Machine = SnapshotConfig['machine'];
const DEFAULT_MACHINE: Machine = { vcpu_count: 1, mem_size_mib: 128, smt: false, track_dirty_pages: false, huge_pages: 'None' };

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

export class FakeVmm {
  readonly version = FAKE_VERSION;
  state: 'Not started' | 'Running' | 'Paused' = 'Not started';
  machine: Machine = { ...DEFAULT_MACHINE };
  bootSource: Record<string, any> | undefined;
  drives = new Map<string, Record<string, any>>();
  ifaces = new Map<string, Record<string, any>>();
  vsock: { guest_cid: number; uds_path: string } | undefined;
  metrics: Record<string, any> | undefined;
  entropy: Record<string, any> | undefined;
  balloon: Record<string, any> | undefined;
  /** Set by any boot-specific resource; forbids a later snapshot load. */
  bootPath = false;
  readonly guest: Guest;
  readonly muxer: VsockMuxer;
  #deprecation = false;
  /** What the guest had loaded, read from the agent just before it was frozen. */
  #image: GuestImage = {};
  /** The image as of the last snapshot or restore (undefined: nothing since boot), for Diffs. */
  #clean: string | undefined;

  constructor(private readonly o: FakeVmmOptions) {
    this.guest = new Guest({
      privateDir: o.privateDir,
      console: o.console,
      onCrash: (code, signal) => {
        // Also on the console, where the driver's error messages look.
        o.console(`fake firecracker: guest agent exited unexpectedly (code ${code}, signal ${signal})`);
        o.log('ERROR', `guest agent exited unexpectedly (code ${code}, signal ${signal})`);
      },
    });
    this.muxer = new VsockMuxer(this.guest);
    if (o.metricsPath) this.metrics = { metrics_path: o.metricsPath };
  }

  get started(): boolean {
    return this.state !== 'Not started';
  }

  resolve(p: string): string {
    // Without a base, relative paths are left to the kernel: Node caches process.cwd(), which
    // goes stale when the working directory is renamed under the process.
    return this.o.cwd ? path.resolve(this.o.cwd, p) : p;
  }

  async delay(route: string): Promise<void> {
    await sleep(this.o.delays.call);
    if (route === '/snapshot/create') await sleep(this.o.delays.snapshotCreate);
    if (route === '/snapshot/load') await sleep(this.o.delays.snapshotLoad);
  }

  takeDeprecation(): boolean {
    const d = this.#deprecation;
    this.#deprecation = false;
    return d;
  }

  fatal(reason: string): void {
    this.shutdown();
    this.o.exit(1, reason);
  }

  /** Stops the guest and the vsock device (process exit). */
  shutdown(): void {
    this.guest.kill();
    this.muxer.close();
  }

  instanceInfo() {
    return { id: this.o.id, state: this.state, vmm_version: this.version, app_name: 'Firecracker' };
  }

  fullConfig() {
    return {
      balloon: this.balloon ?? null,
      drives: [...this.drives.values()],
      'boot-source': this.bootSource ?? {},
      'cpu-config': null,
      // Firecracker 1.16.1 never reports these two, however they were configured.
      logger: null,
      'machine-config': this.machine,
      metrics: null,
      'mmds-config': null,
      'network-interfaces': [...this.ifaces.values()],
      vsock: this.vsock ?? null,
      entropy: this.entropy ?? null,
    };
  }

  getBalloon() {
    if (!this.balloon) throw new Fault('The balloon device is not configured.');
    return this.balloon;
  }

  #openable(kind: string, p: string) {
    try {
      if (!statSync(this.resolve(p)).isFile()) throw new Error('not a file');
    } catch (err) {
      throw new Fault(
        `${kind} cannot be opened: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory (os error 2)' : (err as Error).message}`,
      );
    }
  }

  putBootSource(b: Record<string, any>) {
    this.#openable('The kernel file', b.kernel_image_path);
    if (b.initrd_path) this.#openable('The initrd file', b.initrd_path);
    this.bootSource = b;
    this.bootPath = true;
  }

  putDrive(b: Record<string, any>) {
    if (!b.path_on_host && !b.socket) throw new Fault('Unable to create the block device: path_on_host is required.');
    if (b.path_on_host) this.#openable('The block device backing file', b.path_on_host);
    if (b.is_root_device) {
      for (const d of this.drives.values()) {
        if (d.is_root_device && d.drive_id !== b.drive_id) throw new Fault('A root block device already exists!');
      }
    }
    this.drives.set(b.drive_id, b);
    this.bootPath = true;
  }

  patchDrive(b: Record<string, any>) {
    const d = this.drives.get(b.drive_id);
    if (!d) throw new Fault(`Invalid block device ID: ${b.drive_id}`);
    if (b.path_on_host) this.#openable('The block device backing file', b.path_on_host);
    Object.assign(d, b);
  }

  /** Firecracker 1.16.1's own texts: a client may match them, so they are not paraphrased. */
  #checkMachine(m: Machine) {
    if (m.vcpu_count < 1 || m.vcpu_count > 32 || (m.smt && m.vcpu_count > 1 && m.vcpu_count % 2 === 1)) {
      throw new Fault('Machine config error: The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even number if SMT is enabled.');
    }
    if (m.mem_size_mib < 1 || (m.huge_pages === '2M' && m.mem_size_mib % 2 !== 0)) {
      throw new Fault('Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured page size.');
    }
  }

  putMachineConfig(b: Record<string, any>) {
    // PUT resets every omitted optional field to its default.
    const m: Machine = { ...DEFAULT_MACHINE, ...b };
    this.#checkMachine(m);
    if (b.cpu_template !== undefined) this.#deprecation = true;
    this.machine = m;
    this.bootPath = true;
  }

  patchMachineConfig(b: Record<string, any>) {
    if (Object.keys(b).length === 0) throw new Fault('Empty PATCH request.');
    const m: Machine = { ...this.machine, ...b };
    this.#checkMachine(m);
    this.machine = m;
    this.bootPath = true;
  }

  putNetworkInterface(b: Record<string, any>) {
    if (Buffer.byteLength(b.host_dev_name) >= 16) throw new Fault(`Open tap device failed: Invalid TAP name: ${b.host_dev_name}`);
    if (b.guest_mac !== undefined && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(b.guest_mac)) {
      throw new Fault(`An error occurred when deserializing the json body of a request: invalid MAC address ${b.guest_mac}`);
    }
    if (b.mtu !== undefined && (b.mtu < 68 || b.mtu > 65535)) throw new Fault(`Invalid MTU ${b.mtu}.`);
    this.ifaces.set(b.iface_id, b);
    this.bootPath = true;
  }

  patchNetworkInterface(b: Record<string, any>) {
    const i = this.ifaces.get(b.iface_id);
    if (!i) throw new Fault(`Invalid network interface ID: ${b.iface_id}`);
    Object.assign(i, b);
  }

  async putVsock(b: Record<string, any>) {
    if (b.guest_cid < 3) throw new Fault(`Invalid guest CID ${b.guest_cid}: the guest CID must be at least 3.`);
    if (b.vsock_id !== undefined) this.#deprecation = true;
    // A second PUT replaces the device; Firecracker removes the old socket file first.
    if (this.vsock) this.muxer.close();
    try {
      await this.muxer.listen(this.resolve(b.uds_path));
    } catch (err) {
      throw new Fault(`Cannot create backend for vsock device: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    this.vsock = { guest_cid: b.guest_cid, uds_path: b.uds_path };
    this.bootPath = true;
  }

  /** Any number of times before boot; a missing file is created (see logger.ts). */
  putLogger(b: Record<string, any>) {
    try {
      this.o.configureLogger(b);
    } catch (err) {
      throw new Fault(`Logger error: Failed to open target file: ${osError(err)}`);
    }
  }

  /** Once only, counting `--metrics-path`; a missing file is created. */
  putMetrics(b: Record<string, any>) {
    const refused = 'Metrics error: Cannot initialize the metrics system due to bad user input: ';
    if (this.metrics) throw new Fault(`${refused}Reinitialization of metrics not allowed.`);
    try {
      appendFileSync(this.resolve(b.metrics_path), '');
    } catch (err) {
      throw new Fault(`${refused}${osError(err)}`);
    }
    this.metrics = b;
  }

  putEntropy(b: Record<string, any>) {
    this.entropy = b;
    this.bootPath = true;
  }

  putBalloon(b: Record<string, any>) {
    this.balloon = b;
    this.bootPath = true;
  }

  patchBalloon(b: Record<string, any>) {
    if (!this.balloon) throw new Fault('The balloon device is not configured.');
    this.balloon.amount_mib = b.amount_mib;
  }

  async action(type: string) {
    if (type === 'InstanceStart') {
      if (!this.bootSource) throw new Fault('Cannot start microvm without kernel configuration.');
      await sleep(this.o.delays.instanceStart);
      this.state = 'Running';
      this.o.log('INFO', 'Successfully started microvm that was configured from one single json');
      // The 204 means the VMM started, not that the guest booted: the agent comes up later.
      const boot = () => {
        try {
          this.guest.start();
        } catch (err) {
          this.o.log('ERROR', `guest failed to boot: ${(err as Error).message}`);
        }
      };
      if (this.o.delays.guestBoot > 0) setTimeout(boot, this.o.delays.guestBoot);
      else boot();
      return;
    }
    if (type === 'SendCtrlAltDel') {
      // The guest reboots, and Firecracker exits on the guest's CPU reset.
      setTimeout(() => {
        this.shutdown();
        this.o.exit(0, 'guest rebooted after Ctrl+Alt+Del');
      }, 10);
      return;
    }
    if (type === 'FlushMetrics') {
      if (this.metrics) {
        appendFileSync(
          this.resolve(this.metrics.metrics_path),
          JSON.stringify({ utc_timestamp_ms: Date.now(), api_server: { process_startup_time_us: 0 }, vmm: { panic_count: 0 } }) + '\n',
        );
      }
    }
  }

  async setVmState(state: 'Paused' | 'Resumed') {
    if (state === 'Paused') {
      if (this.state === 'Running') {
        // Remember what the guest had loaded before freezing it (a snapshot may follow).
        const health = await this.guest.health();
        const fnPath = health?.function?.loaded ? health.function.path : undefined;
        this.#image = fnPath ? { bundle: readBundle(fnPath) } : {};
      }
      this.guest.pause();
      this.state = 'Paused';
    } else {
      this.guest.resume();
      this.state = 'Running';
    }
  }

  createSnapshot(b: Record<string, any>) {
    if (this.state !== 'Paused') {
      throw new Fault('Create snapshot error: Cannot save the microVM state: save/restore unavailable while running');
    }
    if (b.snapshot_type === 'Diff') this.o.log('WARN', 'Diff snapshots are in developer preview.');
    const config: SnapshotConfig = {
      machine: this.machine,
      bootSource: this.bootSource,
      drives: [...this.drives.values()],
      ifaces: [...this.ifaces.values()],
      vsock: this.vsock,
    };
    try {
      writeStateFile(this.resolve(b.snapshot_path), config, b.snapshot_type ?? 'Full');
      const image = JSON.stringify(this.#image);
      const diff = b.snapshot_type === 'Diff' ? { dirty: image !== this.#clean } : undefined;
      writeMemoryFile(this.resolve(b.mem_file_path), this.machine.mem_size_mib, this.#image, diff);
      // Either type resets the dirty bitmap.
      this.#clean = image;
    } catch (err) {
      throw new Fault(`Create snapshot error: ${(err as Error).message}`);
    }
    // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET: the source VM loses its vsock connections too.
    this.muxer.resetConnections();
  }

  async loadSnapshot(b: Record<string, any>) {
    // Firecracker checks the memory fields while parsing the request, before the boot path.
    const hasBackend = b.mem_backend != null;
    const hasFile = b.mem_file_path != null;
    if (hasBackend && hasFile) {
      throw new Fault(
        'An error occurred when deserializing the json body of a request: too many fields: either `mem_backend` or `mem_file_path` exclusively is required.',
      );
    }
    if (!hasBackend && !hasFile) {
      throw new Fault('An error occurred when deserializing the json body of a request: missing field: either `mem_backend` or `mem_file_path` is required.');
    }
    if (this.bootPath) throw new Fault('Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.');
    // The schema has checked the nested bodies already.
    const backend: Record<string, any> = hasBackend ? b.mem_backend : { backend_type: 'File', backend_path: b.mem_file_path };
    const overrides: Record<string, any>[] = b.network_overrides ?? [];
    const vsockOverride: Record<string, any> | undefined = b.vsock_override ?? undefined;
    if (hasFile || b.enable_diff_snapshots !== undefined) this.#deprecation = true;

    // From here on every failure is fatal: Firecracker answers 400 and exits.
    const fail = (message: string): never => {
      throw new Fault(`Load snapshot error: Failed to restore from snapshot: ${message}`, true);
    };
    let config!: SnapshotConfig;
    let image: GuestImage = {};
    try {
      config = readStateFile(this.resolve(b.snapshot_path));
      if (backend.backend_type === 'File') image = readMemoryFile(this.resolve(backend.backend_path), config.machine.mem_size_mib);
      else await this.#connectUffd(this.resolve(backend.backend_path), config.machine.mem_size_mib);
    } catch (err) {
      fail((err as Error).message);
    }
    for (const d of config.drives) {
      if (d.path_on_host && !existsSync(this.resolve(String(d.path_on_host)))) {
        fail(`Block device ${d.drive_id}: cannot open ${d.path_on_host}: No such file or directory (os error 2)`);
      }
    }
    const ifaces = new Map(config.ifaces.map((i) => [String(i.iface_id), { ...i }]));
    for (const o of overrides) {
      const iface = ifaces.get(o.iface_id);
      if (!iface) fail(`Invalid network override: unknown iface_id ${o.iface_id}`);
      else iface.host_dev_name = o.host_dev_name;
    }
    if (vsockOverride && !config.vsock) fail('vsock_override given but the snapshot has no vsock device');
    let vsock = config.vsock;
    if (vsock) {
      vsock = { ...vsock, uds_path: vsockOverride?.uds_path ?? vsock.uds_path };
      try {
        await this.muxer.listen(this.resolve(vsock.uds_path));
      } catch (err) {
        fail(`Cannot bind the vsock socket ${vsock.uds_path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
    }
    this.machine = { ...config.machine, track_dirty_pages: Boolean(b.track_dirty_pages ?? b.enable_diff_snapshots) };
    this.bootSource = config.bootSource;
    this.drives = new Map(config.drives.map((d) => [String(d.drive_id), d]));
    this.ifaces = ifaces;
    this.vsock = vsock;
    this.#image = image;
    this.#clean = JSON.stringify(image);
    let bundle: string | undefined;
    if (image.bundle) {
      const dir = path.join(this.o.privateDir, 'restored');
      mkdirSync(dir, { recursive: true });
      bundle = path.join(dir, path.basename(image.bundle.name));
      writeFileSync(bundle, image.bundle.code);
      if (image.bundle.map !== undefined) writeFileSync(`${bundle}.map`, image.bundle.map);
    }
    try {
      this.guest.start(bundle);
    } catch (err) {
      fail((err as Error).message);
    }
    this.state = 'Paused';
    this.guest.pause();
    if (b.resume_vm) await this.setVmState('Resumed');
  }

  /** The Uffd handshake: connect to the handler and send the region description (no fd: a gap). */
  #connectUffd(socketPath: string, memSizeMib: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.on('error', (err) => reject(new Error(`Cannot connect to the UFFD handler at ${socketPath}: ${(err as NodeJS.ErrnoException).code}`)));
      s.on('connect', () => {
        const regions = [{ base_host_virt_addr: 0x7f0000000000, size: memSizeMib * 1024 * 1024, offset: 0, page_size: 4096, page_size_kib: 4096 }];
        s.end(JSON.stringify(regions), () => resolve());
      });
    });
  }

  /** Removes the private directory (agent socket, restored bundle). */
  cleanup(): void {
    rmSync(this.o.privateDir, { recursive: true, force: true });
  }
}

function readBundle(file: string): GuestImage['bundle'] {
  const code = readFileSync(file, 'utf8');
  let map: string | undefined;
  try {
    map = readFileSync(`${file}.map`, 'utf8');
  } catch {
    map = undefined;
  }
  return { name: path.basename(file), code, map };
}
