import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify from 'fastify';
import { getIntrospectionQuery } from 'graphql';
import { loadConfig } from '../src/config.js';
import { registerBrowserSecurity } from '../src/server/browser-security.js';
import { defaultDocument, registerLocalExplorer } from '../src/server/explorers.js';
import { startTestServer, type TestServer } from './support/server.js';

/** A GET sent with its path exactly as given (fetch would resolve `..` before sending). */
function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The URLs of a page's `src` and `href` attributes. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
}

/** One directive of a Content-Security-Policy header, as its list of sources. */
function directive(csp: string, name: string): string[] | undefined {
  const found = csp
    .split(';')
    .map((d) => d.trim().split(/\s+/))
    .find(([n]) => n === name);
  return found?.slice(1);
}

describe('the local explorer (GraphiQL at /graphiql) in development', () => {
  let t: TestServer;
  let html: string;
  let page: Response;
  beforeAll(async () => {
    t = await startTestServer();
    page = await fetch(`${t.url}/graphiql`);
    html = await page.text();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves GraphiQL at /graphiql: HTML whose scripts and styles all come from this origin', () => {
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html).toContain('<div id="graphiql">');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>|<style|\bon\w+=/); // nothing inline
    const urls = references(html);
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toEqual([
      '/graphiql/assets/react@18.3.1/react.production.min.js',
      '/graphiql/assets/react-dom@18.3.1/react-dom.production.min.js',
      '/graphiql/assets/graphiql@3.9.0/graphiql.min.js',
      '/graphiql/assets/start.js',
    ]);
    for (const url of urls) expect(url === 'data:,' || /^\/graphiql\/assets\/[^/]/.test(url)).toBe(true);
  });

  it('serves each asset the page references, with its content type and a cache header', async () => {
    const assets = references(html).filter((url) => url.startsWith('/'));
    expect(assets).toHaveLength(6);
    for (const url of assets) {
      const response = await fetch(`${t.url}${url}`);
      expect(response.status).toBe(200);
      const type = url.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
      expect(response.headers.get('content-type')).toBe(type);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      // npm files carry their version in the URL; ours are asked for again each time.
      expect(response.headers.get('cache-control')).toBe(
        url.includes('@') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    // The very files of the packages.
    const served = Buffer.from(
      await (await fetch(`${t.url}/graphiql/assets/graphiql@3.9.0/graphiql.min.js`)).arrayBuffer(),
    );
    expect(served.equals(await readFile('node_modules/graphiql/graphiql.min.js'))).toBe(true);
  });

  it('lets the page load and fetch from this origin only (its CSP)', () => {
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).not.toMatch(/https?:|apollographql|\*/);
    expect(directive(csp, 'default-src')).toEqual(["'self'"]);
    expect(directive(csp, 'script-src')).toEqual(["'self'"]);
    expect(directive(csp, 'connect-src')).toEqual(["'self'"]);
    expect(directive(csp, 'style-src')).toEqual(["'self'", "'unsafe-inline'"]);
    expect(directive(csp, 'font-src')).toEqual(["'self'", 'data:']);
    expect(directive(csp, 'img-src')).toEqual(["'self'", 'data:']);
    expect(directive(csp, 'object-src')).toEqual(["'none'"]);
  });

  it('starts GraphiQL on /graphql with a JSON POST, which CSRF prevention lets through, introspection included', async () => {
    const start = await (await fetch(`${t.url}/graphiql/assets/start.js`)).text();
    expect(start).toContain("GraphiQL.createFetcher({ url: '/graphql'");
    expect(start).toContain(JSON.stringify(defaultDocument()));
    // What GraphiQL's fetcher sends: a JSON POST, here its introspection query.
    const introspection = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({
        query: getIntrospectionQuery({ inputValueDeprecation: true, schemaDescription: true }),
        operationName: 'IntrospectionQuery',
      }),
    });
    expect(introspection.status).toBe(200);
    const body = (await introspection.json()) as { data?: { __schema: { queryType: { name: string } } } };
    expect(body.data?.__schema.queryType.name).toBe('Query');
  });

  it('starts a first visit with the mini program login and `me`, ready to run', () => {
    const document = defaultDocument({
      emulatorUrl: 'http://127.0.0.1:4100',
      miniAppId: 'wxdemomini000000001',
    });
    expect(document).toContain('mutation MiniLogin {\n  wechatMiniLogin(input: { code: "CODE" }) {');
    expect(document).toContain('query Me {\n  me {');
    expect(document).toContain('curl -s -XPOST http://127.0.0.1:4100/__emulator/codes');
    expect(document).toContain('"appid":"wxdemomini000000001"');
    expect(defaultDocument()).toContain('wx.login() in your mini program');
    expect(defaultDocument()).not.toContain('__emulator');
  });

  it.each([
    '/graphiql/assets/../../package.json',
    '/graphiql/assets/../../../../etc/passwd',
    '/graphiql/assets/..%2F..%2Fpackage.json',
    '/graphiql/assets/%2e%2e/%2e%2e/package.json',
    '/graphiql/assets/graphiql@3.9.0/../../../package.json',
    '/graphiql/assets/graphiql@3.9.0/package.json',
    '/graphiql/assets/graphiql@3.9.0/graphiql.min.js.map',
    '/graphiql/assets/react@18.3.1/index.js',
    '/graphiql/assets/react@0.0.1/react.production.min.js',
    '/graphiql/assets/',
    '/graphiql/assets//graphiql/assets/start.js',
  ])('refuses %s, which is not on its list', async (rawPath) => {
    const { status, body } = await rawGet(t.url, rawPath);
    expect(status).toBe(404);
    expect(body).not.toMatch(/"name"|root:/);
  });

  it('sends /graphiql/ to /graphiql', async () => {
    const slash = await fetch(`${t.url}/graphiql/`, { redirect: 'manual' });
    expect(slash.status).toBe(302);
    expect(slash.headers.get('location')).toBe('/graphiql');
  });

  it('is linked from the Sandbox landing page, which stays Sandbox', async () => {
    const sandbox = await (await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(sandbox).toContain('EmbeddedSandbox');
    expect(sandbox).toMatch(/Apollo Sandbox loads from Apollo's CDN[^<]*<a href="\/graphiql">/);
  });
});

describe('the local explorer without its npm packages (an install without devDependencies)', () => {
  it('says what is missing and how to get it, and serves nothing', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'no-graphiql-'));
    const app = Fastify();
    try {
      await registerBrowserSecurity(app, loadConfig({ NODE_ENV: 'test' }));
      await registerLocalExplorer(app, { resolveFrom: pathToFileURL(path.join(empty, 'here.js')).href });
      for (const url of ['/graphiql', '/graphiql/assets/start.js']) {
        const response = await app.inject({ method: 'GET', url });
        expect(response.statusCode).toBe(503);
        expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(response.body).toMatch(/^The local explorer needs react, react-dom, graphiql from npm/);
        expect(response.body).toContain('Run `npm ci`');
      }
    } finally {
      await app.close();
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('names the files a package of another version no longer has', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'moved-graphiql-'));
    const app = Fastify();
    try {
      for (const pkg of ['react', 'react-dom', 'graphiql']) {
        await mkdir(path.join(root, 'node_modules', pkg), { recursive: true });
        await writeFile(path.join(root, 'node_modules', pkg, 'package.json'), '{"version":"99.0.0"}');
      }
      await registerBrowserSecurity(app, loadConfig({ NODE_ENV: 'test' }));
      await registerLocalExplorer(app, { resolveFrom: pathToFileURL(path.join(root, 'here.js')).href });
      const response = await app.inject({ method: 'GET', url: '/graphiql' });
      expect(response.statusCode).toBe(503);
      expect(response.body).toMatch(
        /^The local explorer needs react\/umd\/react\.production\.min\.js, react-dom\/umd\/react-dom\.production\.min\.js, graphiql\/graphiql\.min\.js, graphiql\/graphiql\.min\.css from npm/,
      );
    } finally {
      await app.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
