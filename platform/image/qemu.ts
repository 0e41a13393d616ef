/**
 * Boots a kernel with the base image under QEMU's software emulation (TCG) and waits for the
 * agent's ready line on the serial console: the smoke test of the whole guest path (kernel →
 * /sbin/init → Node → agent) on machines without KVM, and the bench's "start-up under emulation".
 *
 * The image goes in as an initramfs (see ./initramfs.ts), because distribution kernels build
 * virtio-blk and ext4 as modules. Without a vsock device under emulation (it needs the host's
 * vhost-vsock) the init is told `ignition.listen=uds`, so the agent listens on a Unix socket in
 * the guest; reaching the ready line still proves the image boots and the agent starts.
 */
import { spawn } from 'node:child_process';
import { findTool } from './tools.ts';

export interface QemuBootOptions {
  kernel: string;
  initramfs: string;
  memoryMiB?: number;
  /** Appended to the kernel command line. */
  extraCmdline?: string;
  /** Gives up after this long (the emulated boot is slow but bounded). */
  timeoutMs?: number;
  /** Resolves when a console line contains this. */
  readyText?: string;
  qemuBinary?: string;
  signal?: AbortSignal;
}

export interface QemuBootResult {
  /** From spawning QEMU to the ready line. */
  readyMs: number;
  /** Everything the console printed up to the ready line. */
  console: string;
  command: string[];
}

/** The QEMU command line for `options` (pure). */
export function qemuArgs(options: QemuBootOptions): string[] {
  const cmdline = ['console=ttyS0', 'rdinit=/sbin/init', 'panic=-1', 'ignition.listen=uds', options.extraCmdline ?? ''].filter(Boolean).join(' ');
  return [
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-accel',
    'tcg',
    '-cpu',
    'max',
    '-smp',
    '1',
    '-m',
    String(options.memoryMiB ?? 1024),
    '-kernel',
    options.kernel,
    '-initrd',
    options.initramfs,
    '-append',
    cmdline,
  ];
}

/** Boots and waits for the ready line; always kills the QEMU process it started. */
export function bootUnderQemu(options: QemuBootOptions): Promise<QemuBootResult> {
  const qemu = options.qemuBinary ?? findTool('qemu-system-x86_64');
  if (!qemu) return Promise.reject(new Error('qemu-system-x86_64 is not installed: apt-get install -y qemu-system-x86'));
  const args = qemuArgs(options);
  const readyText = options.readyText ?? 'ignition-agent ready';
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      if (err) reject(Object.assign(err, { console: output }));
      else resolve({ readyMs: Math.round(performance.now() - started), console: output, command: [qemu, ...args] });
    };
    const onAbort = () => finish(new Error('QEMU boot aborted'));
    options.signal?.addEventListener('abort', onAbort);
    const timer = setTimeout(
      () => finish(new Error(`no "${readyText}" on the serial console within ${options.timeoutMs ?? 240_000} ms; last output:\n${output.slice(-2000)}`)),
      options.timeoutMs ?? 240_000,
    );
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes(readyText)) finish(null);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (output += chunk));
    child.on('error', (err) => finish(err));
    child.on('exit', (code, sig) => finish(new Error(`QEMU exited (${code ?? sig}) before the ready line; output:\n${output.slice(-3000)}`)));
  });
}
