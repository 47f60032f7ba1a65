import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** index.html's placeholders for the emulator's phone pages, as the file has them. */
const emptyMeta = (name: string) => `<meta name="${name}" content="" />`;

const attribute = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface ExamplePagesOptions {
  /** Where examples/web is (default: the working directory's: `npm start` runs there). */
  root?: string;
  /**
   * With the WeChat emulator: its phone page for the server's mini program
   * (`…/__emulator/phone?appid=…`), written into index.html's <meta name="wechat-emulator-phone">
   * so the page can link to it under a mini program code ("Simulate a phone scanning this code").
   */
  emulatorPhoneUrl?: string;
  /**
   * …and its phone for the server's Official Account QR codes (`…/__emulator/oa-qr?appid=…`), into
   * <meta name="wechat-emulator-oa-qr">, for the link under a follow-login QR code.
   */
  emulatorOfficialQrUrl?: string;
}

/**
 * Serves the example web client (examples/web, built by `npm run build`) at /examples/web/, in
 * development only. Files come from the working directory's examples/web: `npm start` runs there.
 */
export function registerExamplePages(
  app: FastifyInstance,
  { root = path.resolve('examples/web'), emulatorPhoneUrl, emulatorOfficialQrUrl }: ExamplePagesOptions = {},
): void {
  app.get('/examples/web', (_request, reply) => reply.redirect('/examples/web/', 302));
  app.get('/examples/web/*', async (request, reply) => {
    const wanted = (request.params as { '*': string })['*'] || 'index.html';
    const file = path.resolve(root, wanted);
    const type = TYPES[path.extname(file)];
    const allowed =
      file === path.join(root, 'index.html') || file.startsWith(path.join(root, 'dist') + path.sep);
    if (!type || !allowed) return reply.code(404).type('text/plain').send('Not found');
    try {
      let body: Buffer | string = await readFile(file);
      if (file === path.join(root, 'index.html')) {
        const metas = {
          'wechat-emulator-phone': emulatorPhoneUrl,
          'wechat-emulator-oa-qr': emulatorOfficialQrUrl,
        };
        for (const [name, url] of Object.entries(metas)) {
          if (url)
            body = body
              .toString('utf8')
              .replace(emptyMeta(name), `<meta name="${name}" content="${attribute(url)}" />`);
        }
      }
      return reply.type(type).header('cache-control', 'no-store').send(body);
    } catch {
      const hint = file.includes(`${path.sep}dist${path.sep}`) ? ': run `npm run build` first' : '';
      return reply.code(404).type('text/plain').send(`Not found${hint}`);
    }
  });
}
