/** `ignition net ls`: network slots, leases and which VM holds each (GET /v1/network). */
import { Command } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson, table } from '../output.ts';

export class NetListCommand extends BaseCommand {
  static paths = [['net', 'ls']];
  static usage = Command.Usage({ description: 'Show network slots, leases and the VM holding each' });
  async run() {
    const net = await this.client.request<{
      enabled?: boolean;
      reason?: string;
      slots: Array<Record<string, unknown>>;
      leases: Array<Record<string, unknown>>;
      pool?: { size: number; ready: number };
      dns?: string[];
    }>('GET', '/v1/network');
    if (this.json) return printJson(net);
    if (net.enabled === false) {
      this.context.stdout.write(`Host networking is off: ${net.reason}\n`);
      return;
    }
    this.context.stdout.write(table(net.slots, ['kind', 'slot', 'state', 'vmId', 'netns', 'tap', 'address', 'guestIp']));
    if (net.pool) this.context.stdout.write(`pool: ${net.pool.ready}/${net.pool.size} ready\n`);
    if (net.dns) this.context.stdout.write(`name servers: ${net.dns.length > 0 ? net.dns.join(', ') : 'none (set network.dns)'}\n`);
  }
}
