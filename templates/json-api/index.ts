/**
 * A JSON API with request validation and typed error responses (RFC 9457 problem+json), written
 * against the Web-standard Request/Response only, with no dependency.
 */
export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

type Problem = { type: string; title: string; status: number; detail: string; errors?: Array<{ field: string; message: string }> };

const todos = new Map<number, Todo>();
let nextId = 1;

function problem(status: number, title: string, detail: string, errors?: Problem['errors']): Response {
  const body: Problem = { type: `about:blank`, title, status, detail, ...(errors ? { errors } : {}) };
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json' } });
}

const json = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });

/** Checks a todo body; returns the field errors (empty when valid). */
export function validateTodo(input: unknown): Array<{ field: string; message: string }> {
  const errors: Array<{ field: string; message: string }> = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return [{ field: '(body)', message: 'must be a JSON object' }];
  const o = input as Record<string, unknown>;
  if (typeof o.title !== 'string' || o.title.trim().length === 0) errors.push({ field: 'title', message: 'must be a non-empty string' });
  else if (o.title.length > 200) errors.push({ field: 'title', message: 'must be at most 200 characters' });
  if (o.done !== undefined && typeof o.done !== 'boolean') errors.push({ field: 'done', message: 'must be true or false' });
  for (const key of Object.keys(o)) if (!['title', 'done'].includes(key)) errors.push({ field: key, message: 'is not a known field' });
  return errors;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const match = /^\/todos(?:\/(\d+))?\/?$/.exec(url.pathname);
    if (!match) return problem(404, 'Not found', `no route ${request.method} ${url.pathname}`);
    const id = match[1] ? Number(match[1]) : undefined;

    if (id === undefined && request.method === 'GET') return json([...todos.values()]);
    if (id === undefined && request.method === 'POST') {
      if (!(request.headers.get('content-type') ?? '').includes('application/json')) {
        return problem(415, 'Unsupported media type', 'send the todo as application/json');
      }
      let body: unknown;
      try {
        body = await request.json();
      } catch {
        return problem(400, 'Malformed JSON', 'the request body is not valid JSON');
      }
      const errors = validateTodo(body);
      if (errors.length) return problem(422, 'Validation failed', `${errors.length} field(s) are invalid`, errors);
      const b = body as { title: string; done?: boolean };
      const todo: Todo = { id: nextId++, title: b.title.trim(), done: b.done ?? false };
      todos.set(todo.id, todo);
      return json(todo, 201);
    }
    if (id !== undefined && request.method === 'GET') {
      const todo = todos.get(id);
      return todo ? json(todo) : problem(404, 'Not found', `no todo ${id}`);
    }
    if (id !== undefined && request.method === 'DELETE') {
      return todos.delete(id) ? new Response(null, { status: 204 }) : problem(404, 'Not found', `no todo ${id}`);
    }
    return problem(405, 'Method not allowed', `${request.method} is not allowed on ${url.pathname}`);
  },
};
