/**
 * `/v1/network`: read-only views of host networking. With networking off (the process driver, or
 * `network.enabled = false`) only the listing exists and says why; `/leases/{vmId}` is served
 * only while networking is on, so it carries `x-ignition-capability: network`.
 */
import { admin, anyObject, arr, int, json, nullable, obj, pathParam, ref, str } from '../build.ts';
import type { PathItem } from '../types.ts';

const slot = obj({
  kind: str(),
  slot: int(),
  state: str(),
  vmId: nullable(str()),
  netns: nullable(str()),
  hostLink: str(),
  tap: str(),
  address: str(),
  guestIp: str(),
  hostIp: nullable(str()),
  policy: nullable(anyObject()),
});

export const networkPaths: Record<string, PathItem> = {
  '/v1/network': {
    get: admin({
      operationId: 'getNetwork',
      summary: 'Network slots, leases and pool, or why networking is off',
      tags: ['network'],
      responses: {
        '200': json('The listing.', {
          oneOf: [
            obj({ enabled: { const: false }, reason: str('Why networking is off.'), slots: arr(slot, 'Empty.'), leases: arr(ref('NetworkLease'), 'Empty.') }),
            obj(
              {
                slots: arr(slot),
                leases: arr(ref('NetworkLease')),
                pool: obj({ size: int(), ready: int(), creating: int() }),
                capacity: obj({ clone: int(), bridge: int() }),
                dns: arr(
                  str(),
                  'The name servers functions with network resolve through; empty when neither network.dns nor the host names one a slot can reach.',
                ),
              },
              { enabled: { const: true } },
            ),
          ],
        }),
      },
    }),
  },
  '/v1/network/leases/{vmId}': {
    get: admin({
      operationId: 'getNetworkLease',
      summary: 'The network lease a VM holds',
      tags: ['network'],
      'x-ignition-capability': 'network',
      parameters: [pathParam('vmId', 'VM id.')],
      errors: [404],
      responses: { '200': json('The lease.', ref('NetworkLease')) },
    }),
  },
};
