/**
 * Starting machines' processes (the process driver's sandboxes, the Firecracker driver's VMMs)
 * from a small launcher process rather than from the daemon.
 *
 * Two costs of a spawn fall on the process that calls it:
 *  - Node's spawn() (libuv's uv_spawn) blocks its caller until the forked child has called execve
 *    (libuv waits on a close-on-exec pipe to learn whether the exec failed). On a busy host the
 *    child waits for a CPU first, so each instance start would stall the daemon's event loop.
 *  - libuv forks (a plain fork(), not vfork: strace shows clone with only SIGCHLD). The kernel
 *    copies the whole address space's page tables while holding it locked, so every thread of the
 *    parent that faults a page in or maps memory (V8 does both all the time) waits until the copy
 *    is done. Spawning from a worker thread of the daemon would move the first cost off its event
 *    loop but not this one: the main thread waits on the address space all the same.
 *
 * So the daemon asks a launcher (a Node process running the few lines below, a few tens of MB,
 * started on first use) over an IPC channel to spawn; the children's output and exit come back as
 * messages. The launcher is the children's parent: bwrap's --die-with-parent follows it, and it
 * follows the daemon, since when the channel closes (the daemon exited or was killed) it kills
 * every child it started (the whole process group of one started as a session) and exits.
 * Signals need no launcher: they go by pid.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';

export interface SpawnCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /**
   * Start the command as a session of its own (setsid() before the exec): no controlling terminal,
   * so a sandboxed process cannot push input into the daemon's terminal.
   */
  session?: boolean;
  /**
   * Cgroups to start in (one per cgroup v1 hierarchy, one on v2; see process/cgroups.ts): `procs`
   * is the group's cgroup.procs file, `home` that of the launcher's own group, to go back to
   * after the spawn.
   */
  cgroups?: Array<{ procs: string; home: string }>;
  /**
   * Credentials of the child (the launcher calls setgroups(0), setgid and setuid before the exec);
   * only a launcher running as root can use them. A sandbox runs as an unprivileged host uid.
   */
  uid?: number;
  gid?: number;
  /**
   * Descriptors handed to the child as fds 3, 4, … in this order, opened by the launcher:
   *  - `listen`: a Unix stream socket listening at this path. The sandbox cannot write where the
   *    socket lives, so the host makes it and the agent serves the inherited descriptor.
   *  - `open`: a file or directory opened read-only (bwrap's --seccomp and --ro-bind-fd read
   *    them: the sandbox's uid need not be able to reach the path itself).
   */
  fds?: Array<{ listen: string } | { open: string }>;
}

/**
 * A child started by the spawner, shaped like the parts of ChildProcess the driver uses: `pid`
 * (once `spawned` resolved), `exitCode`/`signalCode`, `stdout`/`stderr` streams, and the `exit`
 * and `error` events.
 */
export class SpawnedChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  /** Resolves once the process exists (its pid is known) or its start failed. */
  readonly spawned: Promise<void>;
  /** @internal */
  resolveSpawned!: () => void;
  /** @internal Exit and both streams' ends seen: no message for it can follow. */
  pending = 3;

  constructor() {
    super();
    this.spawned = new Promise((resolve) => (this.resolveSpawned = resolve));
  }
}

type FromLauncher =
  | { id: number; type: 'spawned'; pid: number | undefined }
  | { id: number; type: 'data'; stream: 'stdout' | 'stderr'; chunk: string }
  | { id: number; type: 'end'; stream: 'stdout' | 'stderr' }
  | { id: number; type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; type: 'error'; message: string };

// Plain JavaScript run by `node -e` (so the launcher needs no file of its own in dist/).
//
// A command with `cgroups` is spawned from inside them: the launcher moves itself into the groups
// for the spawn and back after it (a move costs tens of microseconds), so the fork happens inside
// and the child is in them from its first instruction. Should the way back fail, that spawn and
// every later one fail with the reason rather than start children in the wrong group.
//
// A command with a `session` is spawned detached (libuv calls setsid() in the child before the
// exec).
//
// Descriptors (\`fds\`) are opened right before the spawn and closed right after it: the child
// holds its own copies. A listening socket is bound under a temporary name and renamed into place
// once the child has it, because closing the launcher's copy unlinks the name it was bound to
// (libuv does that for a listening pipe), and the socket must outlive that close.
const LAUNCHER_SOURCE = `
const { spawn } = require('node:child_process');
const { writeFileSync, openSync, closeSync, renameSync, rmSync, constants } = require('node:fs');
const net = require('node:net');
process.title = 'ignition-launcher';
const live = new Set();
let stuck;
process.on('disconnect', () => {
  for (const child of live) {
    // A session's leader leads its process group too: the group goes with it.
    try { if (child.group) process.kill(-child.pid, 'SIGKILL'); else child.kill('SIGKILL'); } catch {}
  }
  process.exit(0);
});
process.on('message', (m) => {
  // A callback: a send racing the daemon's exit fails quietly (the disconnect handler ends us).
  const post = (msg) => { if (process.connected) process.send({ id: m.id, ...msg }, () => {}); };
  let child;
  const opened = [];
  const files = [];
  const servers = [];
  let moved = 0;
  try {
    if (stuck) throw stuck;
    for (const f of m.fds || []) {
      if (f.listen) {
        const tmp = f.listen + '.' + process.pid + '.tmp';
        rmSync(tmp, { force: true });
        const server = net.createServer();
        // A pipe's bind and listen happen inside listen(); only the 'listening' event is deferred.
        server.listen(tmp);
        servers.push({ server, tmp, path: f.listen });
        opened.push(server._handle.fd);
      } else {
        const fd = openSync(f.open, constants.O_RDONLY | constants.O_CLOEXEC);
        files.push(fd);
        opened.push(fd);
      }
    }
    try {
      // Inside the try: a move that fails half-way still goes back from the groups it entered.
      for (const g of m.cgroups || []) { writeFileSync(g.procs, String(process.pid)); moved++; }
      const options = { env: m.env, cwd: m.cwd, stdio: ['ignore', 'pipe', 'pipe', ...opened], detached: !!m.session };
      if (m.uid !== undefined) options.uid = m.uid;
      if (m.gid !== undefined) options.gid = m.gid;
      child = spawn(m.file, m.args, options);
    } finally {
      for (const g of (m.cgroups || []).slice(0, moved)) {
        try { writeFileSync(g.home, String(process.pid)); } catch (err) { stuck = new Error('the process launcher cannot leave its start cgroup: ' + err.message); throw stuck; }
      }
    }
    if (child.pid) for (const s of servers) renameSync(s.tmp, s.path);
  } catch (err) {
    for (const s of servers) { try { s.server.close(); } catch {} rmSync(s.tmp, { force: true }); }
    for (const fd of files) { try { closeSync(fd); } catch {} }
    if (child) try { child.kill('SIGKILL'); } catch {}
    post({ type: 'spawned', pid: undefined });
    post({ type: 'error', message: String((err && err.message) || err) });
    return;
  }
  // The child has its copies; the launcher keeps none (a listening socket's close unlinks only
  // its temporary name, already renamed).
  for (const s of servers) s.server.close();
  for (const fd of files) { try { closeSync(fd); } catch {} }
  post({ type: 'spawned', pid: child.pid });
  if (child.pid) {
    child.group = !!m.session;
    live.add(child);
  }
  for (const name of ['stdout', 'stderr']) {
    const stream = child[name];
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => post({ type: 'data', stream: name, chunk }));
    stream.on('end', () => post({ type: 'end', stream: name }));
  }
  child.on('exit', (code, signal) => {
    live.delete(child);
    post({ type: 'exit', code, signal });
  });
  child.on('error', (err) => post({ type: 'error', message: err.message }));
});
`;

export class Spawner {
  private launcher: ChildProcess | undefined;
  private readonly children = new Map<number, SpawnedChild>();
  private nextId = 1;

  /** Starts `cmd` from the launcher; the child's pid is known once `child.spawned` resolves. */
  spawn(cmd: SpawnCommand): SpawnedChild {
    const child = new SpawnedChild();
    const id = this.nextId++;
    this.children.set(id, child);
    const launcher = this.ensureLauncher();
    // Held while a child runs or may still report: its messages are what a caller waits for.
    launcher.channel?.ref();
    launcher.send({ id, ...cmd });
    return child;
  }

  /** The launcher's pid, once it runs (tests look for sandboxes under it). */
  get pid(): number | undefined {
    return this.launcher?.pid;
  }

  /** Stops the launcher. It kills any child still running, which then reports an `error`. */
  async close(): Promise<void> {
    const l = this.launcher;
    this.launcher = undefined;
    if (!l || l.exitCode !== null || l.signalCode !== null) return;
    const exited = new Promise((resolve) => l.once('exit', resolve));
    // Whoever awaits close() waits for the launcher's exit; that wait must hold the event loop.
    l.ref();
    if (l.connected) l.disconnect();
    else l.kill('SIGKILL');
    await exited;
  }

  private ensureLauncher(): ChildProcess {
    if (this.launcher) return this.launcher;
    const launcher = spawnProcess(process.execPath, ['-e', LAUNCHER_SOURCE], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    // The daemon's lifetime is its own business: the launcher keeps it alive only while a child it
    // started may still report (spawn() holds the channel, forget() lets it go).
    launcher.unref();
    launcher.channel?.unref();
    launcher.on('message', (m: FromLauncher) => this.onMessage(m));
    let gone = false;
    const lost = (why: string) => {
      if (gone) return;
      gone = true;
      if (this.launcher === launcher) this.launcher = undefined;
      // Its children can no longer be watched: report them gone and make sure they are.
      for (const [id, child] of this.children) {
        this.forget(id);
        child.resolveSpawned();
        if (child.exitCode !== null || child.signalCode !== null) {
          // It exited already; only the end of its output was still to come.
          for (const stream of [child.stdout, child.stderr]) if (!stream.writableEnded) stream.end();
          continue;
        }
        if (child.pid) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        child.emit('error', new Error(`the process launcher stopped (${why})`));
      }
    };
    launcher.on('error', (err) => lost(err.message));
    launcher.on('exit', (code, signal) => lost(signal ? `signal ${signal}` : `exit code ${code}`));
    this.launcher = launcher;
    return launcher;
  }

  private onMessage(m: FromLauncher) {
    const child = this.children.get(m.id);
    if (!child) return;
    switch (m.type) {
      case 'spawned':
        child.pid = m.pid;
        child.resolveSpawned();
        break;
      case 'data':
        child[m.stream].write(m.chunk);
        break;
      case 'end':
        child[m.stream].end();
        this.settle(m.id, child);
        break;
      case 'exit':
        child.exitCode = m.code;
        child.signalCode = m.signal;
        child.emit('exit', m.code, m.signal);
        this.settle(m.id, child);
        break;
      case 'error':
        // A child that never started sends nothing more.
        if (child.pid === undefined) this.forget(m.id);
        child.emit('error', new Error(m.message));
        break;
    }
  }

  /** Output may still arrive after the exit event: forget a child only after all three. */
  private settle(id: number, child: SpawnedChild) {
    if (--child.pending === 0) this.forget(id);
  }

  private forget(id: number) {
    this.children.delete(id);
    if (this.children.size === 0) this.launcher?.channel?.unref();
  }
}
