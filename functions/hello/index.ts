/** The smallest function: a Web-standard fetch handler. */
export default {
  async fetch(request: Request, env: Record<string, string>): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get('name') ?? env.GREETING_NAME ?? 'world';
    console.log(`greeting ${name}`);
    return new Response(`Hello, ${name}!\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
};
