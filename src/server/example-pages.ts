import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Serves the example web client (examples/web, built by `npm run build`) at /examples/web/, in
 * development only. Files come from the working directory's examples/web: `npm start` runs there.
 */
export function registerExamplePages(app: FastifyInstance, root = path.resolve('examples/web')): void {
  app.get('/examples/web', (_request, reply) => reply.redirect('/examples/web/', 302));
  app.get('/examples/web/*', async (request, reply) => {
    const wanted = (request.params as { '*': string })['*'] || 'index.html';
    const file = path.resolve(root, wanted);
    const type = TYPES[path.extname(file)];
    const allowed =
      file === path.join(root, 'index.html') || file.startsWith(path.join(root, 'dist') + path.sep);
    if (!type || !allowed) return reply.code(404).type('text/plain').send('Not found');
    try {
      const body = await readFile(file);
      return reply.type(type).header('cache-control', 'no-store').send(body);
    } catch {
      const hint = file.includes(`${path.sep}dist${path.sep}`) ? ': run `npm run build` first' : '';
      return reply.code(404).type('text/plain').send(`Not found${hint}`);
    }
  });
}
