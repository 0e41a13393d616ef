/**
 * The machines pages: the VMs of `ignition vm ps` with an inspect page each and a stop (the
 * VmService's `kill`, as `ignition vm kill`: the record stays), and the function instances.
 */
import { Conflict, NotFound } from '../../errors.ts';
import { csrfOf, page, type ConsoleApp, type ConsoleDeps } from '../context.ts';
import { MachinePage, MachinesPage, STOPPABLE, StopMachinePage } from '../pages/machines.tsx';
import { vmPath } from '../pages/format.ts';

/** Console output lines an inspect page shows. */
const LOGS_SHOWN = 50;

export function registerMachineRoutes(app: ConsoleApp, deps: ConsoleDeps): void {
  const { functions } = deps;
  const vms = () => {
    if (!deps.vms) throw NotFound('this daemon has no VM surface');
    return deps.vms;
  };

  app.get('/machines', (c) => {
    const instances = functions.instances().map((i) => ({
      id: i.id,
      fn: i.version.fn,
      seq: i.version.seq,
      state: i.machine.state,
      inflight: i.inflight,
      served: i.served,
      lastUsed: i.lastUsed,
    }));
    return page(c, MachinesPage({ csrf: csrfOf(c), vms: deps.vms ? deps.vms.list() : null, instances }));
  });

  app.get('/machines/:id', (c) => {
    const vm = vms().describe(c.req.param('id'));
    return page(c, MachinePage({ csrf: csrfOf(c), vm, logs: vms().logs(vm.id, LOGS_SHOWN) }));
  });

  app.get('/machines/:id/stop', (c) => {
    const vm = vms().describe(c.req.param('id'));
    if (!STOPPABLE.has(vm.state)) throw Conflict(`VM ${vm.name ?? vm.id} is ${vm.state}: there is nothing to stop`, { data: { vm: vm.id, state: vm.state } });
    return page(c, StopMachinePage({ csrf: csrfOf(c), vm }));
  });

  app.post('/machines/:id/stop', async (c) => {
    const vm = await vms().kill(c.req.param('id'));
    return c.redirect(vmPath(vm.id), 303);
  });
}
