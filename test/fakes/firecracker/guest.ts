/**
 * The fake's "guest": the real Ignition agent (`dist/agent.mjs`) run as a child process, and a
 * vsock muxer in front of it that plays Firecracker's part of the host-initiated handshake.
 *
 * Firecracker binds `uds_path` itself at `PUT /vsock` and forwards each `CONNECT <port>\n` to the
 * guest; so does this muxer: it owns the socket at `uds_path`, reads the command line, and pipes the
 * connection to the agent's own handshake socket in a private directory. The agent answers `OK` or
 * closes (nothing listening), exactly what the host would see from a microVM. Pause is SIGSTOP of
 * the agent, resume SIGCONT; snapshot create and load reset every proxied connection, as the
 * virtio-vsock transport reset does in a real guest.
 *
 * A real restore resumes a guest whose agent is already running with the function loaded; a
 * fresh Node start per restore would make the emulator, not the platform, dominate every
 * restore. So the spawned fake starts its agent when the process starts (`prestart`, idle, no
 * function) and a load hands that agent the snapshot's bundle (`PUT /v1/function`, no warm-up)
 * instead of starting one. Until the guest is up, vsock connections wait, as they would for a
 * guest that has not been scheduled yet.
 *
 * The console stays as quiet as a real one meanwhile: a Firecracker process with no guest yet
 * prints nothing, and a resumed guest prints nothing about being resumed, since its agent started
 * and loaded its function before the snapshot. So what the pre-started agent prints (its start,
 * the hand-over's load) is held back: shown when a boot adopts it (a booting guest prints as it
 * starts), dropped when a load hands it a function successfully, shown if the hand-over fails or
 * the agent dies. Otherwise every restore would hand the host console lines a real one never
 * sees, and the host's CPU to read them would be counted as the platform's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from this file's place in it (test/fakes/firecracker/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface GuestOptions {
  /** Private directory of this fake process (agent socket, uploaded bundles). */
  privateDir: string;
  /** Where the guest's console goes (the fake's stdout). */
  console: (line: string) => void;
  /** Called when the agent exits on its own (a guest crash). */
  onCrash: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/** The agent process standing in for a booted guest. */
export class Guest {
  readonly agentSocket: string;
  #child: ChildProcess | undefined;
  #stopping = false;
  #paused = false;

  constructor(private readonly options: GuestOptions) {
    this.agentSocket = path.join(options.privateDir, 'agent.sock');
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Running and booted or restored (a pre-started agent is not a guest yet). */
  get up(): boolean {
    return this.running && !this.#parked;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Resolves when the guest can take vsock connections (its function handed over, if any). */
  get ready(): Promise<void> {
    return this.#ready;
  }
  #ready: Promise<void> = Promise.resolve();
  #parked = false;
  #stopped = false;
  /** Console lines of the pre-started agent, held back until its fate is known (see the header). */
  #held: string[] | undefined;

  #console(line: string): void {
    if (!this.#held) return this.options.console(line);
    // Bounded: a chatty agent that is never adopted must not grow the fake without limit.
    if (this.#held.length < 200) this.#held.push(line);
  }

  /** Stops holding console lines: prints them (`show`) or drops them. */
  #release(show: boolean): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    if (show) for (const line of held) this.options.console(line);
  }

  /**
   * Starts the agent ahead of `start`, with no function, so a later boot or load adopts a running
   * agent. Does nothing if the agent script is missing (`start` then reports it, as before).
   */
  prestart(): void {
    if (this.#child || !existsSync(this.#agentScript())) return;
    this.#held = [];
    this.#spawn(undefined);
    this.#parked = true;
  }

  /** Boots the guest: adopts the pre-started agent or spawns one, loading `bundle` (restore). */
  start(bundle?: string): void {
    if (this.#parked && this.running) {
      this.#parked = false;
      if (bundle) this.#ready = this.#handOver(bundle).then((ok) => this.#release(!ok));
      else this.#release(true);
      return;
    }
    this.#release(true);
    const agent = this.#agentScript();
    if (!existsSync(agent)) throw new Error(`guest agent ${agent} is missing (run npm run build)`);
    this.#spawn(bundle);
  }

  #agentScript(): string {
    return process.env.IGNITION_FC_FAKE_AGENT ?? path.join(repoRoot, 'dist', 'agent.mjs');
  }

  #spawn(bundle: string | undefined): void {
    const env: NodeJS.ProcessEnv = { ...process.env, IGNITION_WORK_DIR: path.join(this.options.privateDir, 'fn') };
    delete env.IGNITION_BUNDLE;
    if (bundle) {
      env.IGNITION_BUNDLE = bundle;
      // The snapshot was taken after the function's warmup(); a restored guest does not run it again.
      env.IGNITION_WARMUP = '0';
    }
    const child = spawn(process.execPath, [this.#agentScript(), '--uds', this.agentSocket], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const forward = (stream: NodeJS.ReadableStream | null) => {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        const lines = (rest + d).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) this.#console(l);
      });
    };
    forward(child.stdout);
    forward(child.stderr);
    child.on('exit', (code, signal) => {
      // A crash shows what the agent said; a power-off of an agent never adopted has nothing to say.
      this.#release(!this.#stopping);
      if (!this.#stopping) this.options.onCrash(code, signal);
    });
  }

  /**
   * Gives the pre-started agent the restored function (the state a real guest wakes up in). The
   * agent may still be starting: its socket is retried until it answers. A failure is a guest
   * crash: the agent is killed so the host's health check fails instead of waiting.
   */
  async #handOver(bundle: string): Promise<boolean> {
    const body = JSON.stringify({ path: bundle, warmup: false });
    const request = `CONNECT 52\nPUT /v1/function HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const answer = await roundTrip(this.agentSocket, request).catch((err: NodeJS.ErrnoException) => err);
      if (typeof answer === 'string') {
        const status = /^OK \d+\n?HTTP\/1\.1 (\d{3})/.exec(answer.replace(/\r/g, ''))?.[1];
        if (status === '200') return true;
        this.#console(`fake firecracker: the guest agent refused the restored function: ${answer.slice(0, 300)}`);
      } else if ((answer.code === 'ENOENT' || answer.code === 'ECONNREFUSED') && Date.now() < deadline && this.running) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      } else {
        this.#console(`fake firecracker: cannot reach the guest agent to restore its function: ${answer.message}`);
      }
      this.#child?.kill('SIGKILL');
      return false;
    }
  }

  /** Freezes the guest (vCPUs stopped); a guest still being restored freezes once it is up. */
  pause(): void {
    this.#paused = true;
    void this.#ready.then(() => {
      if (this.#paused && !this.#stopped && this.running) {
        this.#child!.kill('SIGSTOP');
        this.#stopped = true;
      }
    });
  }

  resume(): void {
    this.#paused = false;
    if (this.#stopped && this.running) this.#child!.kill('SIGCONT');
    this.#stopped = false;
  }

  /** Powers the guest off at once. */
  kill(): void {
    this.#stopping = true;
    if (this.running) {
      this.#child!.kill('SIGKILL');
    }
  }

  /** Asks the agent for its health (host side of the handshake, internal socket), or undefined. */
  health(timeoutMs = 5000): Promise<{ function?: { loaded?: boolean; path?: string } } | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect(this.agentSocket);
      let data = '';
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (value: any) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(value);
      };
      socket.on('error', () => done(undefined));
      socket.on('connect', () => socket.write('CONNECT 52\nGET /v1/health HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n'));
      socket.setEncoding('latin1');
      socket.on('data', (d) => (data += d));
      socket.on('end', () => {
        const start = data.indexOf('\r\n\r\n');
        const m = /\{[\s\S]*\}/.exec(start === -1 ? '' : data.slice(start));
        try {
          done(m ? JSON.parse(m[0]) : undefined);
        } catch {
          done(undefined);
        }
      });
    });
  }
}

/** Firecracker's side of the vsock device: the socket at `uds_path`, forwarding to the guest. */
export class VsockMuxer {
  #server: net.Server | undefined;
  #conns = new Set<net.Socket>();
  udsPath = '';

  constructor(private readonly guest: Guest) {}

  /** Binds `udsPath` (absolute). Like Firecracker, bind does not unlink: a leftover file fails. */
  listen(udsPath: string): Promise<void> {
    this.udsPath = udsPath;
    const server = net.createServer((host) => this.#accept(host));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(udsPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  #accept(host: net.Socket) {
    this.#conns.add(host);
    host.on('close', () => this.#conns.delete(host));
    host.on('error', () => host.destroy());
    const onData = (buf: Buffer) => {
      // Firecracker reads the command from a non-blocking socket, so it must all be there at the
      // first read: a `CONNECT` split across writes fails and the connection is dropped.
      const nl = buf.indexOf(0x0a);
      if (nl === -1 || nl > 32) {
        host.destroy();
        return;
      }
      host.off('data', onData);
      host.pause();
      const line = buf.subarray(0, nl).toString('latin1');
      if (!/^connect \d+$/i.test(line) || !this.guest.up) {
        host.end();
        return;
      }
      void this.guest.ready.then(() => this.#forward(host, buf));
    };
    host.on('data', onData);
  }

  #forward(host: net.Socket, buf: Buffer) {
    if (host.destroyed || !this.guest.up) {
      host.destroy();
      return;
    }
    const guest = net.connect(this.guest.agentSocket);
    this.#conns.add(guest);
    guest.on('close', () => {
      this.#conns.delete(guest);
      host.destroy();
    });
    guest.on('error', () => host.destroy());
    host.on('close', () => guest.destroy());
    guest.on('connect', () => {
      // The agent's own listener does the OK/EOF part of the handshake.
      guest.write(buf);
      host.pipe(guest);
      guest.pipe(host);
      host.resume();
    });
  }

  /** VIRTIO_VSOCK_EVENT_TRANSPORT_RESET: every open connection is dropped; listeners survive. */
  resetConnections(): void {
    for (const c of this.#conns) c.destroy();
    this.#conns.clear();
  }

  /** Closes the device (server and connections); Node unlinks the socket file on close. */
  close(): void {
    this.resetConnections();
    this.#server?.close();
    this.#server = undefined;
  }
}

/** Writes `request` on a fresh connection to `socketPath` and resolves with everything read until EOF. */
function roundTrip(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
  });
}
