/**
 * Cron triggers from the command line, each one call of the daemon's API:
 *   ignition cron add <fn> "<expr>" [--path P] [--method M] [--data D]
 *   ignition cron ls <fn>
 *   ignition cron pause <id>        ignition cron resume <id>        ignition cron rm <id>
 * Triggers are addressed by id alone, as the API does (`/v1/crons/:id`). Output goes through the
 * command's context streams (not process.stdout), so tests can run the commands in-process.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { table } from '../output.ts';
import type { CronView } from '../../async/views.ts';

/** A trigger as the API answers it (type only: the CLI loads nothing of the async service). */
type Cron = CronView;

const enc = encodeURIComponent;

function out(cmd: BaseCommand, text: string) {
  cmd.context.stdout.write(text);
}

function json(cmd: BaseCommand, value: unknown) {
  out(cmd, JSON.stringify(value, null, 2) + '\n');
}

export class CronAddCommand extends BaseCommand {
  static paths = [['cron', 'add']];
  static usage = Command.Usage({
    description: 'Invoke a function on a cron schedule (5 fields, UTC)',
    examples: [
      ['Every five minutes', 'ignition cron add report "*/5 * * * *" --path /tick'],
      ['Weekdays at 08:00 UTC', 'ignition cron add digest "0 8 * * mon-fri"'],
    ],
  });
  name = Option.String({ required: true });
  schedule = Option.String({ required: true });
  urlPath = Option.String('--path', { description: 'Path and query the function sees (default /)' });
  method = Option.String('--method,-X', { description: 'HTTP method (default GET, or POST with --data)' });
  data = Option.String('--data,-d', { description: 'Request body of every run' });
  async run() {
    const cron = await this.client.request<Cron>('POST', `/v1/functions/${enc(this.name)}/crons`, {
      schedule: this.schedule,
      path: this.urlPath,
      method: this.method,
      body: this.data,
    });
    if (this.json) return json(this, cron);
    out(this, `${cron.id} (next run ${cron.nextAt})\n`);
  }
}

export class CronLsCommand extends BaseCommand {
  static paths = [['cron', 'ls']];
  static usage = Command.Usage({ description: "List a function's cron triggers, active and paused" });
  name = Option.String({ required: true });
  async run() {
    const { crons } = await this.client.request<{ crons: Cron[] }>('GET', `/v1/functions/${enc(this.name)}/crons`);
    if (this.json) return json(this, crons);
    if (!crons.length) return out(this, `No cron triggers for ${this.name}.\n`);
    const rows = crons.map((c) => ({ ...c, request: `${c.method} ${c.path}`, state: c.enabled ? 'active' : 'paused' }));
    out(this, table(rows, ['id', 'schedule', 'request', 'state', 'lastFiredAt', 'nextAt']));
  }
}

export class CronPauseCommand extends BaseCommand {
  static paths = [['cron', 'pause']];
  static usage = Command.Usage({
    description: 'Pause a cron trigger: it does not fire until resumed (runs already queued still run)',
    examples: [['Pause a trigger', 'ignition cron pause cron_0mx2c2u3p52fb9a0v1c7']],
  });
  id = Option.String({ required: true });
  async run() {
    const cron = await this.client.request<Cron>('POST', `/v1/crons/${enc(this.id)}/pause`);
    if (this.json) return json(this, cron);
    out(this, `Paused ${cron.id}\n`);
  }
}

export class CronResumeCommand extends BaseCommand {
  static paths = [['cron', 'resume']];
  static usage = Command.Usage({
    description: 'Resume a paused cron trigger from its next slot (slots missed while paused are skipped)',
    examples: [['Resume a trigger', 'ignition cron resume cron_0mx2c2u3p52fb9a0v1c7']],
  });
  id = Option.String({ required: true });
  async run() {
    const cron = await this.client.request<Cron>('POST', `/v1/crons/${enc(this.id)}/resume`);
    if (this.json) return json(this, cron);
    out(this, `Resumed ${cron.id} (next run ${cron.nextAt})\n`);
  }
}

export class CronRmCommand extends BaseCommand {
  static paths = [['cron', 'rm']];
  static usage = Command.Usage({ description: 'Remove a cron trigger' });
  id = Option.String({ required: true });
  async run() {
    const res = await this.client.request<{ removed: string }>('DELETE', `/v1/crons/${enc(this.id)}`);
    if (this.json) return json(this, res);
    out(this, `Removed ${res.removed}\n`);
  }
}

export const cronCommands = [CronAddCommand, CronLsCommand, CronPauseCommand, CronResumeCommand, CronRmCommand];
