// Run with `npm test`: validation and error shapes, calling the handler directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import api, { validateTodo } from '../index.ts';

const post = (body: string, type = 'application/json') =>
  api.fetch(new Request('http://fn/todos', { method: 'POST', body, headers: { 'content-type': type } }));

test('creates and reads a todo', async () => {
  const res = await post(JSON.stringify({ title: 'write tests' }));
  assert.equal(res.status, 201);
  const todo = await res.json();
  assert.equal(todo.title, 'write tests');
  const again = await api.fetch(new Request(`http://fn/todos/${todo.id}`));
  assert.deepEqual(await again.json(), todo);
});

test('rejects invalid bodies with typed problems', async () => {
  const bad = await post(JSON.stringify({ title: '', extra: 1 }));
  assert.equal(bad.status, 422);
  assert.equal(bad.headers.get('content-type'), 'application/problem+json');
  const p = await bad.json();
  assert.deepEqual(
    p.errors.map((e: { field: string }) => e.field),
    ['title', 'extra'],
  );
  assert.equal((await post('{nope')).status, 400);
  assert.equal((await post('x', 'text/plain')).status, 415);
  assert.equal((await api.fetch(new Request('http://fn/todos/999'))).status, 404);
  assert.deepEqual(validateTodo({ title: 'ok', done: true }), []);
});
