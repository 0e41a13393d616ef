/**
 * The process driver's seccomp filter, for `bwrap --seccomp FD`.
 *
 * filter.c builds it with libseccomp and writes the classic BPF bwrap loads; this module compiles
 * that generator with `cc` and runs it, once per change of filter.c. Every syscall not listed in
 * SECCOMP_DENIED is allowed: the filter narrows the kernel a function can reach, while bwrap's
 * namespaces remain the sandbox.
 *
 * The generator is compiled rather than the BPF committed because libseccomp, not this project,
 * knows each architecture's syscall numbers and the checks that keep foreign ABIs out.
 *
 * Run from the source tree (scripts/build.ts, tests): a bundled copy has no filter.c beside it and
 * uses the seccomp.bpf that `npm run build` wrote. By hand:
 * `node --import tsx platform/vmm/process/seccomp/index.ts OUT_DIR`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeccompBuildFailed } from './errors.ts';

/**
 * Every syscall the filter refuses, by libseccomp's name. Refused with EPERM unless noted:
 * io_uring_* and clone3 get ENOSYS (libuv and glibc then fall back to the old calls); clone only
 * with a CLONE_NEW* flag (threads and fork go on); personality unless 0 or 0xffffffff (the query);
 * ioctl only for TIOCSTI. On x86_64 any x32 or i386 syscall kills the process.
 */
export const SECCOMP_DENIED: readonly string[] = Object.freeze([
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'move_mount',
  'open_tree',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'open_by_handle_at',
  'name_to_handle_at',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'unshare',
  'setns',
  'swapon',
  'swapoff',
  'reboot',
  'acct',
  'quotactl',
  'quotactl_fd',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'syslog',
  'iopl',
  'ioperm',
  'lookup_dcookie',
  'vhangup',
  'uselib',
  'nfsservctl',
  'fanotify_init',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'clone3',
  'clone',
  'personality',
  'ioctl',
]);

/** The C source of the generator. */
export const SECCOMP_SOURCE = fileURLToPath(new URL('./filter.c', import.meta.url));

const FIX = 'apt-get install -y libseccomp-dev gcc';

function mtime(file: string): number | undefined {
  return statSync(file, { throwIfNoEntry: false })?.mtimeMs;
}

function output(err: unknown): string {
  const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
  const text = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim();
  return text.split('\n').slice(-15).join('\n') || e.message;
}

/** Compiles filter.c to `gen`; a missing toolchain is an answer, anything else a thrown bug. */
function compile(gen: string): { reason: string; fix: string } | undefined {
  const cc = process.env.CC ?? 'cc';
  const tmp = `${gen}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-Wall', '-o', tmp, SECCOMP_SOURCE, '-lseccomp'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { reason: `no C compiler (\`${cc}\` is not on PATH)`, fix: FIX };
    const out = output(err);
    // The header or the library is what a host without libseccomp-dev lacks.
    if (/seccomp\.h|-lseccomp/.test(out)) return { reason: `libseccomp-dev is not installed (${out.split('\n')[0]})`, fix: FIX };
    throw SeccompBuildFailed(`\`${cc} ${SECCOMP_SOURCE} -lseccomp\` failed:\n${out}`, { cause: err });
  }
  renameSync(tmp, gen);
  return undefined;
}

/**
 * Makes `outDir/seccomp.bpf`, compiling the generator `outDir/seccomp-gen` when it is missing or
 * older than filter.c and rerunning it when the filter is older than the generator. Up to date,
 * that is three stats. Returns the filter's path, or why this host cannot build it and what to
 * install; throws `seccomp_build_failed` only when the tools are there and the build still fails.
 */
export function ensureSeccompFilter(outDir: string): { path: string } | { reason: string; fix: string } {
  const gen = path.join(outDir, 'seccomp-gen');
  const bpf = path.join(outDir, 'seccomp.bpf');
  const sourceAt = mtime(SECCOMP_SOURCE);
  if (sourceAt === undefined) {
    if (mtime(bpf) !== undefined) return { path: bpf };
    return { reason: `no filter source at ${SECCOMP_SOURCE} (a bundled copy cannot build the filter)`, fix: 'npm run build' };
  }
  let genAt = mtime(gen);
  if (genAt === undefined || genAt < sourceAt) {
    mkdirSync(outDir, { recursive: true });
    const missing = compile(gen);
    if (missing) return missing;
    genAt = mtime(gen)!;
  }
  const bpfAt = mtime(bpf);
  if (bpfAt === undefined || bpfAt < genAt) {
    // Written beside and renamed, so a sandbox starting meanwhile reads a whole filter or none.
    const tmp = `${bpf}.${process.pid}.tmp`;
    try {
      execFileSync(gen, [tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      rmSync(tmp, { force: true });
      throw SeccompBuildFailed(`\`${gen}\` did not write the filter:\n${output(err)}`, { cause: err });
    }
    renameSync(tmp, bpf);
  }
  return { path: bpf };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = ensureSeccompFilter(process.argv[2] ?? '.');
  if ('path' in result) console.log(result.path);
  else {
    console.error(`${result.reason}; to fix: ${result.fix}`);
    process.exitCode = 1;
  }
}
