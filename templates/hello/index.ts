/**
 * An Ignition function: a Web-standard fetch handler. `env` holds the environment variables given
 * at deploy time (`ignition deploy . --env KEY=VALUE`); `ctx.invocationId` names this request in
 * `ignition logs`.
 */
export interface Env {
  GREETING?: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get('name') ?? 'world';
    const greeting = env.GREETING ?? 'Hello';
    console.log(`${greeting} ${name} (${request.method} ${url.pathname})`);
    return new Response(`${greeting}, ${name}!\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
};
