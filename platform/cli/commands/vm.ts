/**
 * `ignition vm …`: the machines under the functions. Each subcommand is one call of /v1/vms.
 *   vm run (--image I | --snapshot S) [--name] [--memory] [--vcpus]   vm ps   vm inspect <id>
 *   vm logs <id>   vm exec <id> -- cmd…   vm pause|resume <id>   vm snapshot <id> [--name]
 *   vm fork <id> [--count N]   vm kill <id> (record kept)   vm rm <id> (record and workspace removed)
 */
import { Command, Option } from 'clipanion';
import { BaseCommand, integerFlag } from '../base.ts';
import { ApiError, problemFrom } from '../client.ts';
import { printJson, table } from '../output.ts';
import { BadRequest } from '../../errors.ts';
import { VM_LIMITS } from '../../vms/limits.ts';

type Vm = { id: string; name: string | null; driver: string; state: string; pid: number | null; source: string | null; createdAt: string };

function printVms(cmd: BaseCommand, vms: Vm[]) {
  if (cmd.json) return printJson(vms);
  cmd.context.stdout.write(
    vms.length
      ? table(
          vms.map((v) => ({ ...v, name: v.name ?? '-', source: v.source ?? '-' })),
          ['id', 'name', 'driver', 'state', 'pid', 'source', 'createdAt'],
        )
      : 'No VMs.\n',
  );
}

export class VmRunCommand extends BaseCommand {
  static paths = [['vm', 'run']];
  static usage = Command.Usage({ description: 'Start a VM from the base image or a snapshot' });
  image = Option.String('--image', { description: 'Base image snapshot (default: the configured one)' });
  snapshot = Option.String('--snapshot', { description: 'Snapshot to restore from' });
  name = Option.String('--name');
  memory = Option.String('--memory', { description: `MiB, ${VM_LIMITS.memoryMiB.min} to ${VM_LIMITS.memoryMiB.max} (default 128)` });
  vcpus = Option.String('--vcpus', { description: `${VM_LIMITS.vcpus.min} to ${VM_LIMITS.vcpus.max} (default 1)` });
  async run() {
    if (this.image && this.snapshot) throw BadRequest('give --image or --snapshot, not both');
    const memoryMiB = integerFlag('--memory', this.memory, VM_LIMITS.memoryMiB);
    const vcpus = integerFlag('--vcpus', this.vcpus, VM_LIMITS.vcpus);
    const vm = await this.client.request<Vm>('POST', '/v1/vms', {
      image: this.image,
      snapshot: this.snapshot,
      name: this.name,
      memoryMiB,
      vcpus,
    });
    if (this.json) return printJson(vm);
    this.context.stdout.write(`${vm.id}\n`);
  }
}

export class VmPsCommand extends BaseCommand {
  static paths = [['vm', 'ps']];
  static usage = Command.Usage({ description: 'List VMs' });
  async run() {
    printVms(this, (await this.client.request<{ vms: Vm[] }>('GET', '/v1/vms')).vms);
  }
}

export class VmInspectCommand extends BaseCommand {
  static paths = [['vm', 'inspect']];
  static usage = Command.Usage({ description: 'Show one VM in full (with its boot/restore step timings)' });
  id = Option.String({ required: true });
  async run() {
    printJson(await this.client.request('GET', `/v1/vms/${encodeURIComponent(this.id)}`));
  }
}

export class VmLogsCommand extends BaseCommand {
  static paths = [['vm', 'logs']];
  static usage = Command.Usage({ description: "Show a VM's console output" });
  id = Option.String({ required: true });
  async run() {
    const { logs } = await this.client.request<{ logs: Array<{ time: number; level: string; message: string }> }>(
      'GET',
      `/v1/vms/${encodeURIComponent(this.id)}/logs`,
    );
    if (this.json) return printJson(logs);
    for (const l of logs) this.context.stdout.write(`${new Date(l.time).toISOString()} ${l.level.padEnd(5)} ${l.message}\n`);
  }
}

export class VmExecCommand extends BaseCommand {
  static paths = [['vm', 'exec']];
  static usage = Command.Usage({
    description: 'Run a command in a VM; exits with its exit code',
    examples: [['List files', 'ignition vm exec vm_x -- ls -la /']],
  });
  id = Option.String({ required: true });
  timeout = Option.String('--timeout', { description: 'Kill the command (and its process group) after this many ms; exit code 124' });
  argv = Option.Rest({ required: 1 });
  async run() {
    const [cmd, ...args] = this.argv;
    // The upper bound is the longest delay a Node timer (the agent's) can wait.
    const timeoutMs = integerFlag('--timeout', this.timeout, { min: 1, max: 2 ** 31 - 1, unit: 'ms' });
    const res = await this.client.raw(`/v1/vms/${encodeURIComponent(this.id)}/exec`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ cmd, args, timeoutMs }),
    });
    if (!res.ok) throw new ApiError(problemFrom(res.status, await res.text()));
    let code = 0;
    let partial = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const lines = (partial + Buffer.from(chunk).toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const e = JSON.parse(line);
        if (this.json) this.context.stdout.write(line + '\n');
        else if (e.type === 'stdout') this.context.stdout.write(e.data);
        else if (e.type === 'stderr') this.context.stderr.write(e.data);
        if (e.type === 'exit') {
          code = e.code ?? (e.timedOut ? 124 : 137);
          // 124 alone reads like the command's own code (as with timeout(1)); say what happened.
          if (e.timedOut && !this.json) this.context.stderr.write(`error: the command timed out after ${(timeoutMs ?? 0) / 1000} s and was killed\n`);
        }
        if (e.type === 'error') throw new ApiError({ status: 0, code: e.code, detail: e.message });
      }
    }
    return code;
  }
}

function simple(verb: 'pause' | 'resume' | 'kill', description: string) {
  return class extends BaseCommand {
    static paths = [['vm', verb]];
    static usage = Command.Usage({ description });
    id = Option.String({ required: true });
    async run() {
      const vm = await this.client.request<Vm>('POST', `/v1/vms/${encodeURIComponent(this.id)}/${verb}`);
      if (this.json) return printJson(vm);
      this.context.stdout.write(`${vm.id} ${vm.state}\n`);
    }
  };
}
export const VmPauseCommand = simple('pause', 'Pause a VM');
export const VmResumeCommand = simple('resume', 'Resume a paused VM');
export const VmKillCommand = simple('kill', 'Stop a VM (its record is kept; vm rm removes it)');

export class VmRmCommand extends BaseCommand {
  static paths = [['vm', 'rm']];
  static usage = Command.Usage({ description: 'Stop a VM and remove its record and workspace' });
  id = Option.String({ required: true });
  async run() {
    const r = await this.client.request<{ removed: string }>('DELETE', `/v1/vms/${encodeURIComponent(this.id)}`);
    if (this.json) return printJson(r);
    this.context.stdout.write(`Removed ${r.removed}\n`);
  }
}

export class VmSnapshotCommand extends BaseCommand {
  static paths = [['vm', 'snapshot']];
  static usage = Command.Usage({ description: 'Snapshot a running VM into the registry' });
  id = Option.String({ required: true });
  name = Option.String('--name');
  async run() {
    const snap = await this.client.request<{ id: string }>('POST', `/v1/vms/${encodeURIComponent(this.id)}/snapshot`, { name: this.name });
    if (this.json) return printJson(snap);
    this.context.stdout.write(`${snap.id}\n`);
  }
}

export class VmForkCommand extends BaseCommand {
  static paths = [['vm', 'fork']];
  static usage = Command.Usage({ description: 'Fork a running VM into N clones (the source keeps running)' });
  id = Option.String({ required: true });
  count = Option.String('--count', '1');
  async run() {
    const count = integerFlag('--count', this.count, { min: 1, max: 1000 });
    const { clones } = await this.client.request<{ clones: Vm[] }>('POST', `/v1/vms/${encodeURIComponent(this.id)}/fork`, { count });
    printVms(this, clones);
  }
}

export const vmCommands = [
  VmRunCommand,
  VmPsCommand,
  VmInspectCommand,
  VmLogsCommand,
  VmExecCommand,
  VmPauseCommand,
  VmResumeCommand,
  VmKillCommand,
  VmRmCommand,
  VmSnapshotCommand,
  VmForkCommand,
];
