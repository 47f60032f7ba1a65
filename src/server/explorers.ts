import { access, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../config.js';
import { LOCAL_EXPLORER_CSP } from './browser-security.js';
import { registerExamplePages } from './example-pages.js';

/**
 * The two explorers of development. Apollo Sandbox, the /graphql landing page, loads from Apollo's
 * CDN (and Google's fonts), which many developers in China reach slowly or not at all. GraphiQL at
 * /graphiql needs nothing but this server: its scripts and styles are npm packages served from our
 * own origin. Neither exists in production.
 */
export const LOCAL_EXPLORER_PATH = '/graphiql';

const ASSETS_PATH = `${LOCAL_EXPLORER_PATH}/assets`;
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** The npm files the page loads. Nothing else of node_modules is ever served. */
const PACKAGE_FILES = [
  { pkg: 'react', file: 'umd/react.production.min.js', type: JS },
  { pkg: 'react-dom', file: 'umd/react-dom.production.min.js', type: JS },
  { pkg: 'graphiql', file: 'graphiql.min.js', type: JS },
  { pkg: 'graphiql', file: 'graphiql.min.css', type: CSS },
] as const;
const PACKAGES = [...new Set(PACKAGE_FILES.map((f) => f.pkg))];

/** An npm file's URL carries its package's version, so a browser may keep it for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Ours change with the code: the browser asks again each time. */
const REVALIDATE = 'no-cache';

/** Apollo's fallback text, shown when Sandbox's scripts do not arrive. */
const SANDBOX_OFFLINE = /(<div class="fallback">[\s\S]*?<\/p>)/;

/** What the Sandbox landing page adds below its "you might be offline" line. */
const SANDBOX_NOTE =
  "<p>Apollo Sandbox loads from Apollo's CDN, which this network may not reach. " +
  `The local explorer needs nothing but this server: <a href="${LOCAL_EXPLORER_PATH}">GraphiQL at ${LOCAL_EXPLORER_PATH}</a>.</p>`;

/** The fallback text as the example page and GraphiQL's page set theirs: the system's own font. */
const FALLBACK_STYLE =
  ".fallback { font-family: system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif; " +
  'max-width: 40em; margin: 10vh auto; padding: 0 1em; line-height: 1.5; color: #191919; } ' +
  '.fallback h1 { font-size: 1.6em; font-weight: 600; } .fallback a { color: #07c160; }';

/**
 * Adds the note (and so the link to /graphiql) to Apollo's Sandbox page. Sandbox's box covers the
 * whole page even while empty (its scripts did not arrive): only then, it lets clicks through to
 * the link; and the fallback text gets a readable style. The page's own CSP wants its nonce on that
 * style.
 */
export function withLocalExplorerNote(html: string): string {
  const nonce = /<style nonce=["']?([\w+/=-]+)/.exec(html)?.[1];
  // The fallback text is otherwise in the browser's default serif: Apollo's font comes from Google.
  const style = nonce
    ? `<style nonce="${nonce}">#embeddableSandbox:empty { pointer-events: none; } ${FALLBACK_STYLE}</style>`
    : '';
  if (SANDBOX_OFFLINE.test(html)) return html.replace(SANDBOX_OFFLINE, `$1\n  ${SANDBOX_NOTE}${style}`);
  // Apollo changed its page: the note still goes in, at the top.
  return html.replace(/<body>/, `<body>\n${SANDBOX_NOTE}${style}`);
}

/**
 * Development's /graphql landing page: Apollo Sandbox, embedded, whose fallback text (seen while
 * Apollo's CDN does not answer) links to the local explorer.
 */
export function sandboxLandingPage<TContext extends object>(): ApolloServerPlugin<TContext> {
  const sandbox = ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false });
  return {
    async serverWillStart(service) {
      const listener = await sandbox.serverWillStart?.(service);
      if (!listener?.renderLandingPage) return listener;
      return {
        ...listener,
        async renderLandingPage() {
          const page = await listener.renderLandingPage!();
          const { html } = page;
          return {
            ...page,
            html: async () => withLocalExplorerNote(typeof html === 'string' ? html : await html()),
          };
        },
      };
    },
  };
}

/** How the default document says to get a mini program code. */
export interface MiniLoginHint {
  /** The built-in emulator's base URL, when it runs. */
  emulatorUrl?: string;
  /** The mini program's appid. */
  miniAppId?: string;
}

/** The document a first visit starts with: README's "Your first login", ready to run. */
export function defaultDocument(hint: MiniLoginHint = {}): string {
  const mint =
    hint.emulatorUrl && hint.miniAppId
      ? [
          '# 1. Mint a code, as if alice had called wx.login()',
          '#    (the built-in WeChat emulator), in a terminal:',
          `#    curl -s -XPOST ${hint.emulatorUrl}/__emulator/codes \\`,
          "#      -H 'content-type: application/json' \\",
          `#      -d '{"appid":"${hint.miniAppId}","user":"alice"}'`,
        ]
      : ['# 1. Get a code from wx.login() in your mini program', '#    (it works once, for five minutes).'];
  return [
    '# GraphiQL, served by this server: nothing from the internet.',
    '#',
    '# Log in as a mini program user:',
    ...mint,
    '# 2. Put the code in MiniLogin below and run MiniLogin (▶).',
    '# 3. In Headers below, write',
    '#    {"Authorization": "Bearer <the accessToken>"}',
    '#    and run Me.',
    '',
    'mutation MiniLogin {',
    '  wechatMiniLogin(input: { code: "CODE" }) {',
    '    accessToken',
    '    refreshToken',
    '    isNewUser',
    '    user {',
    '      id',
    '      loginMethods {',
    '        kind',
    '        appId',
    '        openId',
    '        unionId',
    '      }',
    '    }',
    '  }',
    '}',
    '',
    'query Me {',
    '  me {',
    '    id',
    '    nickname',
    '    loginMethods {',
    '      kind',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * The page's own script: GraphiQL on /graphql with a JSON POST (what Apollo's CSRF prevention
 * lets through), the editors prefilled from `?query=`, `?variables=`, `?headers=` and
 * `?operationName=` when given. Headers (a bearer token) stay in the tab, never in localStorage.
 */
function startScript(defaultQuery: string): string {
  return `'use strict';
(() => {
  const params = new URLSearchParams(window.location.search);
  const props = {
    fetcher: GraphiQL.createFetcher({ url: '/graphql', enableIncrementalDelivery: false }),
    defaultQuery: ${JSON.stringify(defaultQuery)},
    defaultEditorToolsVisibility: 'headers',
    shouldPersistHeaders: false,
  };
  for (const name of ['query', 'variables', 'headers', 'operationName']) {
    const value = params.get(name);
    if (value !== null) props[name] = value;
  }
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, props));
})();
`;
}

const PAGE_CSS = `html, body { height: 100%; margin: 0; }
#graphiql { height: 100vh; }
`;

function pageHtml(scripts: string[], styles: string[]): string {
  const links = styles.map((href) => `    <link rel="stylesheet" href="${href}" />`);
  const tags = scripts.map((src) => `    <script src="${src}"></script>`);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '  <head>',
    '    <meta charset="utf-8" />',
    '    <meta name="viewport" content="width=device-width, initial-scale=1" />',
    '    <title>GraphiQL · WeChat login server</title>',
    // No favicon to ask for.
    '    <link rel="icon" href="data:," />',
    ...links,
    '  </head>',
    '  <body>',
    '    <div id="graphiql">',
    '      <noscript>GraphiQL needs JavaScript.</noscript>',
    '      <p>Loading GraphiQL…</p>',
    '    </div>',
    ...tags,
    '  </body>',
    '</html>',
    '',
  ].join('\n');
}

interface Asset {
  type: string;
  cacheControl: string;
  /** A file of an npm package, read at each request… */
  file?: string;
  /** …or one of ours, in memory. */
  body?: string;
}

/** The page and its assets, or the packages (or files of them) missing to build it. */
type Explorer = { html: string; assets: Map<string, Asset> } | { missing: string[] };

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Finds the packages (from `resolveFrom`, this module by default) and lays out their URLs. */
async function loadExplorer(resolveFrom: string, hint: MiniLoginHint): Promise<Explorer> {
  const require = createRequire(resolveFrom);
  const roots = new Map<string, { dir: string; version: string }>();
  const missing: string[] = [];
  for (const pkg of PACKAGES) {
    try {
      const manifest = require.resolve(`${pkg}/package.json`);
      const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
      roots.set(pkg, { dir: path.dirname(manifest), version });
    } catch {
      missing.push(pkg);
    }
  }
  if (missing.length > 0) return { missing };

  const assets = new Map<string, Asset>();
  const scripts: string[] = [];
  const styles: string[] = [];
  for (const { pkg, file, type } of PACKAGE_FILES) {
    const root = roots.get(pkg)!;
    const url = `${ASSETS_PATH}/${pkg}@${root.version}/${path.posix.basename(file)}`;
    const absolute = path.join(root.dir, file);
    // Another version of the package may have moved its files.
    if (!(await exists(absolute))) missing.push(`${pkg}/${file}`);
    assets.set(url, { type, cacheControl: IMMUTABLE, file: absolute });
    (type === CSS ? styles : scripts).push(url);
  }
  if (missing.length > 0) return { missing };
  for (const [name, type, body] of [
    ['page.css', CSS, PAGE_CSS],
    ['start.js', JS, startScript(defaultDocument(hint))],
  ] as const) {
    const url = `${ASSETS_PATH}/${name}`;
    assets.set(url, { type, cacheControl: REVALIDATE, body });
    (type === CSS ? styles : scripts).push(url);
  }
  return { html: pageHtml(scripts, styles), assets };
}

function explainMissing(reply: FastifyReply, missing: string[]): FastifyReply {
  return reply
    .code(503)
    .type('text/plain; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(
      `The local explorer needs ${missing.join(', ')} from npm (graphiql, react and react-dom are ` +
        'devDependencies of this project, pinned in package.json), and this install does not have ' +
        'them (npm ci --omit=dev?). Run `npm ci`, then restart the server; or use Apollo Sandbox at ' +
        '/graphql, which loads from the internet.\n',
    );
}

export interface LocalExplorerOptions {
  /** Where the packages are looked up from (a file URL or path); this module by default. */
  resolveFrom?: string;
  hint?: MiniLoginHint;
}

/**
 * GraphiQL at /graphiql, in development only: the page, its scripts and styles from the npm
 * packages graphiql, react and react-dom, and its own start script, all from this origin; an
 * explicit list of URLs, nothing else under /graphiql/assets/. Its CSP allows this origin only.
 * Without the packages (an install without devDependencies) the page says so, 503.
 */
export async function registerLocalExplorer(
  app: FastifyInstance,
  { resolveFrom = import.meta.url, hint = {} }: LocalExplorerOptions = {},
): Promise<void> {
  const explorer = await loadExplorer(resolveFrom, hint);
  const config = { contentSecurityPolicy: LOCAL_EXPLORER_CSP };

  app.get(`${LOCAL_EXPLORER_PATH}/`, (_request, reply) => reply.redirect(LOCAL_EXPLORER_PATH, 302));
  app.get(LOCAL_EXPLORER_PATH, { config }, async (_request, reply) => {
    if ('missing' in explorer) return explainMissing(reply, explorer.missing);
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(explorer.html);
  });

  app.get(`${ASSETS_PATH}/*`, { config }, async (request, reply) => {
    if ('missing' in explorer) return explainMissing(reply, explorer.missing);
    // The exact path, as sent: no joining, so no way out of the list.
    const asset = explorer.assets.get(request.url.split('?')[0]!);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('Not found');
    const body = asset.body ?? (await readFile(asset.file!));
    return reply.type(asset.type).header('cache-control', asset.cacheControl).send(body);
  });
}

/**
 * Development's pages beside /graphql: the example web client (example-pages.ts) and GraphiQL,
 * whose first document mints a code from the built-in emulator when it runs. None in production.
 */
export async function registerExplorers(app: FastifyInstance, config: Config): Promise<void> {
  if (config.isProduction) return;
  // The example page's "Simulate a phone" link: the emulator's phone page for the mini program
  // that createLoginTicket uses without an appId (the only one).
  // The same for the Official Account of follow-login (one that receives pushes).
  const minis = config.wechat.apps.filter((a) => a.kind === 'mini');
  const officials = config.wechat.apps.filter((a) => a.kind === 'official');
  const emulatorPage = (page: string, apps: typeof minis) =>
    config.emulator.enabled && apps.length === 1
      ? `${config.wechat.apiBaseUrl}/__emulator/${page}?${new URLSearchParams({ appid: apps[0]!.appId })}`
      : undefined;
  registerExamplePages(app, {
    emulatorPhoneUrl: emulatorPage('phone', minis),
    emulatorOfficialQrUrl: officials[0]?.token ? emulatorPage('oa-qr', officials) : undefined,
  });
  await registerLocalExplorer(app, {
    hint: config.emulator.enabled
      ? {
          emulatorUrl: config.wechat.apiBaseUrl,
          miniAppId: config.wechat.apps.find((a) => a.kind === 'mini')?.appId,
        }
      : {},
  });
}
