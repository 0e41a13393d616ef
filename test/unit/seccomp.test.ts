/**
 * The process driver's seccomp filter (platform/vmm/process/seccomp), loaded by real bubblewrap
 * sandboxes. A small C probe makes each refused syscall with arguments the kernel rejects early
 * (a bad address, unknown flags, no such pid), so nothing happens on the host, and is run:
 *  - under the built filter: each refused syscall fails with EPERM (ENOSYS for io_uring and
 *    clone3), x32 and i386 syscalls kill the process, ordinary ones still work;
 *  - under the same filter with each errno it returns changed to 1000 + errno (no syscall
 *    returns such a value), so the refusal is the filter's and not the kernel's own EPERM;
 *  - without a filter, where the syscall does not fail that way (unshare(CLONE_NEWUSER)
 *    succeeds). Some syscalls the kernel refuses an unprivileged caller before it reads any
 *    argument (modules, kexec, reboot, ...); for those only the second run can tell.
 * Then Node itself runs under the filter: a worker thread, a child process, fs I/O, a TCP server.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureSeccompFilter, SECCOMP_DENIED } from '../../platform/vmm/process/seccomp/index.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { tempDir } from '../support/tmp.ts';

const FILE = 'test/unit/seccomp.test.ts';
const dir = tempDir('seccomp-');
const built = needs('bwrap') ? null : ensureSeccompFilter(dir);
const skip =
  needs('bwrap') ??
  (built && 'reason' in built
    ? `needs a C compiler and libseccomp-dev (${built.reason}): ${built.fix} && node --import tsx scripts/run-tests.ts ${FILE}`
    : null);
reportSkip(FILE, skip);
const it = skip ? test.skip : test;
const x86_64 = process.arch === 'x64';

// One probe per line: `name nr a0..a5`, run in a child of its own (a kill takes only that child).
const PROBE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define BAD 1UL            /* an unmapped address: a kernel that reads it answers EFAULT */
#define NOPID 0x3fffffffUL /* above any pid_max: ESRCH */
#define ALL ~0UL           /* every flag bit: EINVAL */
#define HIGH (1UL << 32)   /* set in the half of a 32-bit argument the kernel ignores */
struct probe { const char *name; long nr; unsigned long a[6]; };
static const struct probe probes[] = {
  {"mount", SYS_mount, {0, 0, BAD}}, {"umount2", SYS_umount2, {BAD, ALL}},
  {"pivot_root", SYS_pivot_root, {BAD, BAD}}, {"chroot", SYS_chroot, {BAD}},
  {"move_mount", SYS_move_mount, {ALL, BAD, ALL, BAD, ALL}}, {"open_tree", SYS_open_tree, {ALL, BAD, ALL}},
  {"fsopen", SYS_fsopen, {BAD, ALL}}, {"fsconfig", SYS_fsconfig, {ALL}}, {"fsmount", SYS_fsmount, {ALL, ALL}},
  {"fspick", SYS_fspick, {ALL, BAD, ALL}}, {"mount_setattr", SYS_mount_setattr, {ALL, BAD, ALL, BAD}},
  {"open_by_handle_at", SYS_open_by_handle_at, {ALL, BAD}},
  {"name_to_handle_at", SYS_name_to_handle_at, {ALL, BAD, BAD, BAD, ALL}},
  {"ptrace", SYS_ptrace, {PTRACE_PEEKDATA, NOPID}},
  {"process_vm_readv", SYS_process_vm_readv, {NOPID, 0, 0, 0, 0, ALL}},
  {"process_vm_writev", SYS_process_vm_writev, {NOPID, 0, 0, 0, 0, ALL}},
  {"kcmp", SYS_kcmp, {NOPID, NOPID}}, {"keyctl", SYS_keyctl, {ALL}},
  {"add_key", SYS_add_key, {BAD, BAD}}, {"request_key", SYS_request_key, {BAD, BAD}},
  {"bpf", SYS_bpf, {0, BAD, 8}}, {"perf_event_open", SYS_perf_event_open, {BAD, 0, ALL, ALL, ALL}},
  {"userfaultfd", SYS_userfaultfd, {3}}, {"kexec_load", SYS_kexec_load, {0, 0, BAD, ALL}},
  {"kexec_file_load", SYS_kexec_file_load, {ALL, ALL, 0, BAD, ALL}},
  {"init_module", SYS_init_module, {BAD, 8, BAD}}, {"finit_module", SYS_finit_module, {ALL, BAD, ALL}},
  {"delete_module", SYS_delete_module, {BAD, ALL}}, {"unshare", SYS_unshare, {CLONE_NEWUSER}},
  {"setns", SYS_setns, {ALL, 0}}, {"swapon", SYS_swapon, {BAD, ALL}}, {"swapoff", SYS_swapoff, {BAD}},
  {"reboot", SYS_reboot, {0, 0, 0, 0}}, {"acct", SYS_acct, {BAD}}, {"quotactl", SYS_quotactl, {0xff, BAD}},
  {"quotactl_fd", SYS_quotactl_fd, {ALL, 0xff}}, {"settimeofday", SYS_settimeofday, {BAD, 0}},
  {"clock_settime", SYS_clock_settime, {100, BAD}}, {"clock_adjtime", SYS_clock_adjtime, {100, BAD}},
  {"adjtimex", SYS_adjtimex, {BAD}}, {"syslog", SYS_syslog, {10, 0, 0}},
  {"lookup_dcookie", SYS_lookup_dcookie, {0, BAD, 8}}, {"vhangup", SYS_vhangup, {0}},
  {"nfsservctl", SYS_nfsservctl, {0}}, {"fanotify_init", SYS_fanotify_init, {ALL, 0}},
#ifdef SYS_iopl
  {"iopl", SYS_iopl, {4}}, {"ioperm", SYS_ioperm, {0x10000, 1, 1}}, {"uselib", SYS_uselib, {BAD}},
#endif
  {"io_uring_setup", SYS_io_uring_setup, {1, BAD}}, {"io_uring_enter", SYS_io_uring_enter, {ALL}},
  {"io_uring_register", SYS_io_uring_register, {ALL}}, {"clone3", SYS_clone3, {BAD, 88}},
  {"clone/CLONE_NEWNS", SYS_clone, {CLONE_NEWNS | SIGCHLD}}, {"clone/CLONE_NEWUTS", SYS_clone, {CLONE_NEWUTS | SIGCHLD}},
  {"clone/CLONE_NEWIPC", SYS_clone, {CLONE_NEWIPC | SIGCHLD}}, {"clone/CLONE_NEWUSER", SYS_clone, {CLONE_NEWUSER | SIGCHLD}},
  {"clone/CLONE_NEWPID", SYS_clone, {CLONE_NEWPID | SIGCHLD}}, {"clone/CLONE_NEWNET", SYS_clone, {CLONE_NEWNET | SIGCHLD}},
  {"clone/CLONE_NEWCGROUP", SYS_clone, {CLONE_NEWCGROUP | SIGCHLD}}, {"clone/CLONE_NEWTIME", SYS_clone, {0x80}},
  {"clone/plain", SYS_clone, {SIGCHLD}},
#ifdef SYS_fork
  {"fork", SYS_fork, {0}},
#endif
  {"personality/ADDR_NO_RANDOMIZE", SYS_personality, {0x0040000}},
  {"personality/ADDR_NO_RANDOMIZE+high", SYS_personality, {HIGH | 0x0040000}},
  {"personality/PER_LINUX", SYS_personality, {0}}, {"personality/query", SYS_personality, {0xffffffff}},
  {"personality/query+high", SYS_personality, {HIGH | 0xffffffff}},
  {"ioctl/TIOCSTI", SYS_ioctl, {ALL, TIOCSTI, BAD}}, {"ioctl/TIOCSTI+high", SYS_ioctl, {ALL, HIGH | TIOCSTI, BAD}},
  {"ioctl/TIOCGWINSZ", SYS_ioctl, {ALL, TIOCGWINSZ, BAD}},
#ifdef __x86_64__
  {"x32/getpid", 0x40000000 | 39, {0}}, {"i386/getpid", -20, {0}},
#endif
};
static long call(const struct probe *p) {
#ifdef __x86_64__
  if (p->nr < 0) { /* an i386 syscall: int $0x80 reports the other ABI to seccomp */
    long r = -p->nr;
    __asm__ volatile("int $0x80" : "+a"(r) : : "memory");
    if (r < 0 && r > -4096) { errno = (int)-r; return -1; }
    return r;
  }
#endif
  const unsigned long *a = p->a;
  return syscall(p->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    pid_t child = fork();
    if (child == 0) {
      pid_t self = getpid();
      long r = call(&probes[i]);
      if (getpid() != self) _exit(0); /* the process a clone or fork that went through made */
      if (r < 0) printf("%s errno %d\n", probes[i].name, errno);
      else printf("%s ok\n", probes[i].name);
      _exit(0);
    }
    int status;
    waitpid(child, &status, __WALL);
    if (WIFSIGNALED(status)) printf("%s signal %d\n", probes[i].name, WTERMSIG(status));
  }
  return 0;
}
`;

type Result = 'ok' | `errno ${number}` | `signal ${number}`;
const errno = (name: keyof typeof os.constants.errno): Result => `errno ${os.constants.errno[name]}`;
const SIGSYS: Result = `signal ${os.constants.signals.SIGSYS}`;

/**
 * What each probe gets under the filter. `gated`: the kernel itself may give the filter's answer
 * before it reads an argument (EPERM to an unprivileged caller or under a sysctl, ENOSYS from a
 * kernel built without io_uring), so a run without the filter cannot tell; the marked run can.
 */
const expected: Record<string, { result: Result; gated?: true }> = {};
for (const name of SECCOMP_DENIED) if (!['clone', 'personality', 'ioctl'].includes(name)) expected[name] = { result: errno('EPERM') };
for (const name of ['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'clone3']) expected[name] = { result: errno('ENOSYS') };
const gated = [
  'pivot_root',
  'move_mount',
  'fsopen',
  'fsmount',
  'fspick',
  'open_by_handle_at',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'swapoff',
  'reboot',
  'acct',
  'syslog',
  'lookup_dcookie',
  'vhangup',
  'fanotify_init',
  'bpf',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
];
for (const flag of ['NS', 'UTS', 'IPC', 'USER', 'PID', 'NET', 'CGROUP', 'TIME']) {
  expected[`clone/CLONE_NEW${flag}`] = { result: errno('EPERM') };
  // Only a user namespace needs no privilege; the others do, unless the caller is root in bwrap's.
  if (flag !== 'USER') gated.push(`clone/CLONE_NEW${flag}`);
}
for (const name of gated) expected[name].gated = true;
expected['personality/ADDR_NO_RANDOMIZE'] = { result: errno('EPERM') };
expected['personality/ADDR_NO_RANDOMIZE+high'] = { result: errno('EPERM') };
expected['ioctl/TIOCSTI'] = { result: errno('EPERM') };
expected['ioctl/TIOCSTI+high'] = { result: errno('EPERM') };
if (x86_64) expected['x32/getpid'] = expected['i386/getpid'] = { result: SIGSYS };
/** What must keep working under the filter. */
const allowed: Record<string, Result> = {
  'clone/plain': 'ok',
  fork: 'ok',
  'personality/PER_LINUX': 'ok',
  'personality/query': 'ok',
  'personality/query+high': 'ok',
  'ioctl/TIOCGWINSZ': errno('EBADF'),
};

const BWRAP = ['--unshare-user', '--unshare-pid', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];

/** Runs argv in a sandbox, with the filter at `bpf` on fd 3 when given. */
function sandbox(bpf: string | null, argv: string[], extra: string[] = [], env = process.env) {
  const fd = bpf ? openSync(bpf, 'r') : null;
  try {
    const seccomp = fd === null ? [] : ['--seccomp', '3'];
    return spawnSync('bwrap', [...BWRAP, ...extra, ...seccomp, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe', fd ?? 'ignore'],
      encoding: 'utf8',
      timeout: 60_000,
      env,
    });
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

function probeAll(bpf: string | null): Map<string, Result> {
  const run = sandbox(bpf, [path.join(dir, 'probe')]);
  assert.is(run.status, 0, `probe run failed: ${run.stderr}`);
  return new Map(
    run.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [name, ...rest] = line.split(' ');
        return [name, rest.join(' ') as Result];
      }),
  );
}

/**
 * The filter with every errno it returns changed to 1000 + errno: each `ret` of
 * SECCOMP_RET_ERRNO (0x00050000 | errno) in the array of struct sock_filter
 * {u16 code; u8 jt; u8 jf; u32 k}, where code 0x06 is BPF_RET|BPF_K.
 */
function marked(bpf: string): string {
  const prog = readFileSync(bpf);
  let changed = 0;
  for (let at = 0; at < prog.length; at += 8) {
    const k = prog.readUInt32LE(at + 4);
    if (prog.readUInt16LE(at) === 0x06 && (k & 0xffff0000) >>> 0 === 0x00050000) {
      prog.writeUInt32LE(0x00050000 + 1000 + (k & 0xffff), at + 4);
      changed++;
    }
  }
  assert.ok(changed > 0, 'the filter returns errnos');
  const out = path.join(dir, 'marked.bpf');
  writeFileSync(out, prog);
  return out;
}

const mark = (r: Result): Result => (r.startsWith('errno ') ? `errno ${1000 + Number(r.slice(6))}` : r);

it('the generator refuses the syscalls SECCOMP_DENIED lists', () => {
  const listed = execFileSync(path.join(dir, 'seccomp-gen'), ['--list'], { encoding: 'utf8' }).trim().split('\n');
  // An architecture without a syscall (iopl on arm64) leaves it out.
  assert.equal([...listed].sort(), x86_64 ? [...SECCOMP_DENIED].sort() : listed.filter((n) => SECCOMP_DENIED.includes(n)).sort());
  const probed = new Set(Object.keys(expected).map((n) => n.split('/')[0]));
  for (const name of listed) assert.ok(probed.has(name), `${name} has a probe`);
});

it('each refused syscall fails inside the sandbox, because of the filter', () => {
  execFileSync(process.env.CC ?? 'cc', ['-O1', '-w', '-x', 'c', '-o', path.join(dir, 'probe'), '-'], { input: PROBE });
  const { path: bpf } = built as { path: string };
  const filtered = probeAll(bpf);
  const withMarks = probeAll(marked(bpf));
  const control = probeAll(null);
  const failures: string[] = [];
  for (const [name, want] of Object.entries(expected)) {
    const got = filtered.get(name);
    if (got === undefined && !x86_64) continue; // not a syscall of this architecture
    if (got !== want.result) failures.push(`${name}: under the filter ${got}, expected ${want.result}`);
    if (withMarks.get(name) !== mark(want.result)) {
      failures.push(`${name}: under the marked filter ${withMarks.get(name)}, expected ${mark(want.result)}: the filter does not refuse it`);
    }
    const free = control.get(name);
    if (free === undefined || free === mark(want.result) || (!want.gated && free === want.result)) {
      failures.push(`${name}: without the filter ${free}, which does not tell the filter's refusal apart`);
    }
  }
  for (const [name, want] of Object.entries(allowed)) {
    if (filtered.get(name) === undefined && !x86_64) continue; // no fork(2) on arm64
    if (filtered.get(name) !== want) failures.push(`${name}: under the filter ${filtered.get(name)}, expected ${want} as without one`);
  }
  assert.is(control.get('unshare'), 'ok', 'unshare(CLONE_NEWUSER) succeeds without the filter');
  assert.equal(failures, []);
});

const NODE_PROBE = `
const { once } = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const { Worker } = require('node:worker_threads');
const { execFileSync } = require('node:child_process');
(async () => {
  const w = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
  const [fromWorker] = await once(w, 'message');
  execFileSync('/bin/true');
  await fs.promises.writeFile('/tmp/probe.txt', 'written');
  const read = await fs.promises.readFile('/tmp/probe.txt', 'utf8');
  const server = net.createServer((c) => c.end('pong')).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect(server.address().port, '127.0.0.1');
  let reply = '';
  socket.on('data', (d) => (reply += d));
  await once(socket, 'end');
  server.close();
  const seccomp = fs.readFileSync('/proc/self/status', 'utf8').match(/^Seccomp:\\s*(\\d)/m)[1];
  console.log(JSON.stringify({ fromWorker, read, reply, seccomp }));
})();
`;

it('Node runs under the filter: a worker thread, a child process, fs I/O, a TCP server', () => {
  // Asks libuv for io_uring, so its fallback after ENOSYS is exercised too.
  const env = { ...process.env, UV_USE_IO_URING: '1' };
  const run = sandbox((built as { path: string }).path, [process.execPath, '-e', NODE_PROBE], ['--tmpfs', '/tmp'], env);
  assert.is(run.status, 0, `node under the filter: ${run.stderr}`);
  // Seccomp 2 is filter mode: the filter was loaded.
  assert.equal(JSON.parse(run.stdout), { fromWorker: 42, read: 'written', reply: 'pong', seccomp: '2' });
});

it('ensureSeccompFilter does nothing while the filter is up to date and remakes a missing one', () => {
  const gen = path.join(dir, 'seccomp-gen');
  const bpf = (built as { path: string }).path;
  const before = [statSync(gen).mtimeMs, statSync(bpf).mtimeMs];
  assert.equal(ensureSeccompFilter(dir), { path: bpf });
  assert.equal([statSync(gen).mtimeMs, statSync(bpf).mtimeMs], before, 'nothing rebuilt');
  const bytes = readFileSync(bpf);
  rmSync(bpf);
  assert.equal(ensureSeccompFilter(dir), { path: bpf });
  assert.is(statSync(gen).mtimeMs, before[0], 'the generator was not recompiled');
  assert.ok(readFileSync(bpf).equals(bytes), 'the same filter');
});

test.run();
