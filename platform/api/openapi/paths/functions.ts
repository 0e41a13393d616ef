/** `/v1/functions`: deploy, list, inspect, remove, versions, aliases, rollback, instances, logs. */
import { admin, arr, bool, int, json, jsonBody, map, obj, pathParam, queryParam, ref, str, anyObject } from '../build.ts';
import type { JsonSchema, PathItem } from '../types.ts';

const name = pathParam('name', 'The function name (lower-case letters, digits and dashes).');
const alias = pathParam('alias', 'The alias name (`latest` is the one deploys move).');
const tags = ['functions'];
const versionSpec: JsonSchema = { type: ['string', 'integer'], description: 'A version: its id (`ver_…`), its number, or `v3`.' };

const names = (description: string) => arr(str(), description);
/** A Deployment with what it changed (components.ts holds the Deployment itself). */
const deployment: JsonSchema = {
  allOf: [
    ref('Deployment'),
    obj({
      changes: obj(
        {
          env: obj({
            added: names('Names the deploy added.'),
            changed: names('Names whose value it changed.'),
            removed: names('Names it removed.'),
          }),
          settings: arr(obj({ name: str(), from: {}, to: {} }), 'Settings whose value it changed.'),
        },
        {},
        'What differs from the version the deploy started from (names of environment variables, never values).',
      ),
    }),
  ],
};

export const functionPaths: Record<string, PathItem> = {
  '/v1/functions': {
    get: admin({
      operationId: 'listFunctions',
      summary: 'List functions',
      tags,
      responses: { '200': json('Every function.', obj({ functions: arr(ref('Function')) })) },
    }),
  },
  '/v1/functions/{name}': {
    get: admin({
      operationId: 'getFunction',
      summary: 'Inspect a function: latest version, settings, aliases, pools',
      tags,
      parameters: [name],
      errors: [400, 404],
      responses: { '200': json('The function.', ref('Function')) },
    }),
    delete: admin({
      operationId: 'deleteFunction',
      summary: 'Remove a function, its versions, golden snapshots and logs',
      tags,
      parameters: [name],
      errors: [400, 404],
      responses: { '200': json('Removed.', obj({ removed: str(), versions: int('How many versions went with it.') })) },
    }),
  },
  '/v1/functions/{name}/deployments': {
    post: admin({
      operationId: 'deployFunction',
      summary: 'Deploy a bundle, or a configuration change, as a new immutable version',
      description: [
        'Creates the function on first deploy. The version gets a golden snapshot; traffic (`latest`, or `alias`) switches only after it is healthy, so no request fails or waits during a deploy. Deploying the same bundle, settings and environment again changes nothing (200, `created: false`).',
        '',
        'A deploy starts from the version its alias routes to (the heaviest route of a split; `latest`’s for a new alias) and keeps that version’s configuration unless it changes it, as a code update on Lambda does:',
        '',
        '- `settings`: each setting given replaces the previous value, `null` returns it to the daemon’s default, and a setting left out keeps the previous value.',
        '- `env` (optional) is the whole environment and replaces the previous one; left out, the previous environment is kept.',
        '- `envPatch` (optional) is applied after that: a string sets a name, `null` removes it. The CLI’s `--env K=V`, `--unset-env K` and `ignition env set|unset` send this.',
        '- Without `code`, the deploy is a configuration change: the code of the version it starts from is deployed again with the changed `env`, `envPatch` or `settings` (404 when the function does not exist; 400 when nothing is to change).',
        '',
        '`changes` says what differs from the version the deploy started from: environment names (never values) and settings with their old and new values.',
      ].join('\n'),
      tags,
      parameters: [name],
      requestBody: jsonBody(
        obj(
          {},
          {
            code: str('The bundled function (one ESM module). Left out: a configuration change of the deployed code.'),
            map: str('Its source map, for stack traces.'),
            entry: str(),
            settings: anyObject('FunctionSettings fields to set (`null`: back to the default); the rest keep the previous version’s value.'),
            env: map(str(), 'The whole environment, in place of the previous one (use /v1/secrets for secrets).'),
            envPatch: map({ type: ['string', 'null'] }, 'Environment changes: a string sets the name, `null` removes it.'),
            alias: str(),
          },
        ),
        'At most 64 MiB.',
      ),
      errors: [400, 404, 409, 413, 422, 502, 503],
      responses: {
        '201': json('A new version was created and serves.', deployment),
        '200': json('Nothing changed: this bundle and configuration are already deployed.', deployment),
      },
    }),
  },
  '/v1/functions/{name}/versions': {
    get: admin({
      operationId: 'listVersions',
      summary: 'List versions, newest first',
      tags,
      parameters: [name],
      errors: [400, 404],
      responses: { '200': json('The versions.', obj({ versions: arr(ref('Version')) })) },
    }),
  },
  '/v1/functions/{name}/aliases': {
    get: admin({
      operationId: 'listAliases',
      summary: 'List aliases and their traffic split',
      tags,
      parameters: [name],
      errors: [400, 404],
      responses: { '200': json('The aliases.', obj({ aliases: arr(ref('Alias')) })) },
    }),
  },
  '/v1/functions/{name}/aliases/{alias}': {
    put: admin({
      operationId: 'setAlias',
      summary: 'Point an alias at one version, or split its traffic between two',
      description: 'Weights are integers that sum to 100. The versions are warmed before the switch.',
      tags,
      parameters: [name, alias],
      requestBody: jsonBody(obj({ routes: arr(obj({ version: versionSpec, weight: int(undefined, { minimum: 0, maximum: 100 }) }), 'One or two routes.') })),
      errors: [400, 404, 502, 503],
      responses: { '200': json('The alias as stored.', ref('AliasRecord')) },
    }),
    delete: admin({
      operationId: 'deleteAlias',
      summary: 'Remove an alias (not `latest`)',
      tags,
      parameters: [name, alias],
      errors: [400, 404],
      responses: { '200': json('Removed.', obj({ removed: str() })) },
    }),
  },
  '/v1/functions/{name}/rollback': {
    post: admin({
      operationId: 'rollbackFunction',
      summary: 'Move `latest` back to the previous version, or to `to`',
      tags,
      parameters: [name],
      requestBody: jsonBody(obj({}, { to: versionSpec }), undefined, false),
      errors: [400, 404, 502, 503],
      responses: {
        '200': json(
          'Rolled back.',
          obj({
            function: str(),
            from: obj({ id: str(), seq: int() }),
            to: obj({ id: str(), seq: int() }),
            changed: bool('False when `latest` already routed all its traffic to `to`: nothing moved.'),
            alias: ref('AliasRecord'),
          }),
        ),
      },
    }),
  },
  '/v1/functions/{name}/instances': {
    get: admin({
      operationId: 'listInstances',
      summary: 'Running instances of a function',
      tags,
      parameters: [name],
      errors: [400, 404],
      responses: { '200': json('The instances.', obj({ instances: arr(ref('Instance')) })) },
    }),
  },
  '/v1/functions/{name}/logs': {
    get: admin({
      operationId: 'getFunctionLogs',
      summary: 'Logs of a function, or of one invocation; `follow=1` streams them',
      tags,
      parameters: [
        name,
        queryParam('invocation', 'Only this invocation (its request id).'),
        queryParam('level', 'Only entries of this level and the more severe ones (`warn`: warnings and errors). An unknown level is a 400 `bad_request`.', {
          type: 'string',
          enum: ['debug', 'info', 'warn', 'error'],
        }),
        queryParam('limit', 'At most this many entries (default 100, at most 10 000).', int()),
        queryParam('after', 'Only entries with an id above this.', int()),
        queryParam(
          'follow',
          '`1`: a Server-Sent Events stream, one `data:` line (a LogEntry) per entry, open until the client leaves or the function is removed.',
          {
            type: 'string',
            enum: ['1'],
          },
        ),
      ],
      errors: [400, 404],
      responses: {
        '200': {
          description: 'The entries, oldest first; with `follow=1` an event stream.',
          content: {
            'application/json': { schema: obj({ logs: arr(ref('LogEntry')) }) },
            'text/event-stream': { schema: str(), 'x-item-schema': ref('LogEntry') },
          },
        },
      },
    }),
  },
};
