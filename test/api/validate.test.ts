/**
 * The contract test's own tools: the schema validator (each keyword catches what it should and
 * names the JSON path), the request-to-operation lookup, the Hono-to-OpenAPI path conversion, and
 * the document's internal consistency (every $ref resolves).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apiDocument } from '../../platform/api/openapi/document.ts';
import { matchOperation, resolveRef, validate } from '../../platform/api/openapi/validate.ts';
import type { JsonSchema, OpenApiDocument } from '../../platform/api/openapi/types.ts';
import { honoToTemplate } from './contract.ts';

const doc: Pick<OpenApiDocument, 'components'> = {
  components: {
    schemas: {
      Item: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'], additionalProperties: false },
    },
  },
};

const cases: Array<[string, JsonSchema, unknown, string[]]> = [
  ['type ok', { type: 'string' }, 'x', []],
  ['type wrong', { type: 'string' }, 1, ['$ expected string, got integer']],
  ['integer is a number', { type: 'number' }, 3, []],
  ['number is not an integer', { type: 'integer' }, 3.5, ['$ expected integer, got number']],
  ['nullable via type array', { type: ['string', 'null'] }, null, []],
  ['required', { type: 'object', required: ['a'] }, {}, ['$.a is required but missing']],
  [
    'nested path',
    { type: 'object', properties: { list: { type: 'array', items: { type: 'boolean' } } } },
    { list: [true, 'no'] },
    ['$.list[1] expected boolean, got string'],
  ],
  ['odd key quoted', { type: 'object', properties: { 'a-b': { type: 'integer' } } }, { 'a-b': 'x' }, ['$["a-b"] expected integer, got string']],
  ['additionalProperties false', { $ref: '#/components/schemas/Item' }, { id: 1, extra: true }, ['$.extra is not a documented property']],
  ['additionalProperties schema', { type: 'object', additionalProperties: { type: 'string' } }, { a: 'x', b: 2 }, ['$.b expected string, got integer']],
  ['enum', { enum: ['a', 'b'] }, 'c', ['$ "c" is not one of "a", "b"']],
  ['const', { const: false }, true, ['$ expected the constant false, got true']],
  ['pattern', { type: 'string', pattern: '^snap_' }, 'vm_1', ['$ "vm_1" does not match /^snap_/']],
  ['date-time', { type: 'string', format: 'date-time' }, '2024-01-01', ['$ "2024-01-01" is not an RFC 3339 date-time']],
  ['minimum', { type: 'integer', minimum: 1 }, 0, ['$ 0 is below the minimum 1']],
  ['ref into items', { type: 'array', items: { $ref: '#/components/schemas/Item' } }, [{ id: 1 }, {}], ['$[1].id is required but missing']],
  [
    'allOf',
    {
      allOf: [
        { type: 'object', required: ['a'] },
        { type: 'object', required: ['b'] },
      ],
    },
    { a: 1 },
    ['$.b is required but missing'],
  ],
  ['anyOf passes', { anyOf: [{ type: 'string' }, { type: 'integer' }] }, 2, []],
  ['oneOf none', { oneOf: [{ const: 'x' }, { const: 'y' }] }, 'z', ['$ matches none of oneOf: $ expected the constant "x", got "z"']],
  ['oneOf two', { oneOf: [{ type: 'integer' }, { type: 'number' }] }, 2, ['$ matches 2 branches of oneOf, exactly one expected']],
];

for (const [name, schema, value, expected] of cases) {
  test(`validate: ${name}`, () => {
    assert.equal(
      validate(doc, schema, value).map((e) => `${e.path} ${e.message}`),
      expected,
    );
  });
}

test('matchOperation: literal segments win, templates fill parameters, {path} takes the rest', () => {
  assert.is(matchOperation(apiDocument, 'GET', '/v1/snapshots/tree')?.operation.operationId, 'getSnapshotTree');
  const snap = matchOperation(apiDocument, 'GET', '/v1/snapshots/snap_1');
  assert.is(snap?.operation.operationId, 'getSnapshot');
  assert.equal(snap?.params, { id: 'snap_1' });
  const inv = matchOperation(apiDocument, 'POST', '/fn/echo@canary/a/b%20c');
  assert.is(inv?.operation.operationId, 'invokePost');
  assert.equal(inv?.params, { target: 'echo@canary', path: 'a/b c' });
  assert.is(matchOperation(apiDocument, 'PUT', '/fn/echo')?.operation.operationId, 'invokePutRoot');
  assert.is(matchOperation(apiDocument, 'GET', '/fn/echo/')?.operation.operationId, 'invokeGet');
  assert.is(matchOperation(apiDocument, 'PATCH', '/v1/functions'), null);
  assert.is(matchOperation(apiDocument, 'GET', '/v1/nothing'), null);
});

test('honoToTemplate: params, regex params and a trailing wildcard', () => {
  assert.is(honoToTemplate('/v1/functions/:name/aliases/:alias'), '/v1/functions/{name}/aliases/{alias}');
  assert.is(honoToTemplate('/fn/:target{[^/]+}/*'), '/fn/{target}/{path}');
  assert.is(honoToTemplate('/fn/:target{[^/]+}'), '/fn/{target}');
  assert.is(honoToTemplate('/v1/x/:id{[0-9]{2,3}}'), '/v1/x/{id}');
});

test('every $ref of the document resolves', () => {
  const refs: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) k === '$ref' && typeof x === 'string' ? refs.push(x) : walk(x);
    }
  };
  walk(apiDocument);
  assert.ok(refs.length > 20, 'the document uses shared components');
  for (const r of refs) resolveRef(apiDocument, r);
});

test.run();
