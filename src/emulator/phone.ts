import type { FastifyPluginCallback, FastifyReply } from 'fastify';
import { httpUrl } from './apps.js';
import type { EmulatorCore } from './core.js';
import {
  PHONE_PATH,
  URL_LINK_PATH,
  WXACODE_PATH,
  type Issued,
  type MiniProgramCodesApi,
} from './mini-program-codes.api.js';
import { errorPage } from './pages.html.js';
import { rememberedUser } from './pages.js';
import {
  issuedListPage,
  gonePage,
  PHONE_SCRIPT,
  PHONE_SCRIPT_PATH,
  phoneCsp,
  ticketPage,
  type IssuedItem,
} from './phone.html.js';
import { wechatQuery, type Query } from './wechat-route.js';

/** The login server's GraphQL when neither the page's `server` nor the emulator's option says. */
export const DEFAULT_LOGIN_SERVER_URL = 'http://localhost:4000/graphql';

/** A phone page, with the phone's CSP (connecting to `serverOrigin` too, when given), never cached. */
export function sendPhonePage(reply: FastifyReply, body: string, status = 200, serverOrigin?: string) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', phoneCsp(serverOrigin))
    .header('x-content-type-options', 'nosniff')
    .send(body);
}

/** A script of the emulator's own phone pages (the CSP allows no inline script). */
export function sendPhoneScript(reply: FastifyReply, script: string) {
  return reply
    .type('text/javascript; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .send(script);
}

/**
 * The emulated phone: the page a mini program code or URL Link opens (`/__emulator/phone`, the
 * mini program page that confirms a login ticket), its script, the codes' PNGs again, and what a
 * browser sees when it opens a URL Link (a redirect to that page, or "link expired").
 */
export function phoneRoutes(
  core: EmulatorCore,
  codes: MiniProgramCodesApi,
  loginServerUrl: string,
): FastifyPluginCallback {
  function item(entry: Issued, server: URL | null): IssuedItem {
    let phoneUrl: string | null = null;
    if (entry.scene !== null) {
      phoneUrl = codes.phonePath(entry.appid, entry.scene, entry.kind === 'link' ? 'link' : undefined);
      if (server) phoneUrl += `&${new URLSearchParams({ server: server.href })}`;
    }
    return {
      kind: entry.kind,
      appid: entry.appid,
      scene: entry.scene,
      page: entry.page,
      issuedAt: new Date(entry.issuedAt).toISOString(),
      phoneUrl,
      ...(entry.kind === 'code'
        ? { pngUrl: `${WXACODE_PATH}${entry.n}.png` }
        : {
            urlLink: codes.linkUrl(entry),
            expiresAt: new Date(entry.expiresAt!).toISOString(),
            expired: core.now() >= entry.expiresAt!,
          }),
    };
  }

  return (app, _options, done) => {
    const phoneQuery = wechatQuery('appid', 'scene', 'server', 'via');
    app.get(PHONE_PATH, { schema: { querystring: phoneQuery } }, async (request, reply) => {
      const query = request.query as Query;
      const server = query.server === undefined ? null : httpUrl(query.server);
      if (query.server !== undefined && !server) {
        return sendPhonePage(reply, errorPage('server: must be the login server’s http(s) GraphQL URL'), 400);
      }
      const list = (notice?: string) =>
        sendPhonePage(
          reply,
          issuedListPage(
            codes.list().map((entry) => item(entry, server)),
            notice,
          ),
        );
      if (!query.appid && !query.scene) return list();
      if (!query.appid) return list('This page was opened without an appid: pick a code or link below.');
      if (core.apps.get(query.appid)?.kind !== 'mini') {
        return sendPhonePage(
          reply,
          errorPage(`appid 无效: "${query.appid}" is not a mini program of this emulator`),
          400,
        );
      }
      if (!query.scene)
        return list('The mini program page was opened without a scene: pick a code or link below.');
      const graphqlUrl = server?.href ?? loginServerUrl;
      const page = ticketPage({
        appid: query.appid,
        scene: query.scene,
        via: query.via === 'link' ? 'link' : 'code',
        server: graphqlUrl,
        user: rememberedUser(request) ?? 'alice',
        people: core.people.list().map((person) => person.key),
        issued: codes.find(query.appid, query.scene) !== undefined,
      });
      return sendPhonePage(reply, page, 200, new URL(graphqlUrl).origin);
    });

    app.get(PHONE_SCRIPT_PATH, async (_request, reply) => sendPhoneScript(reply, PHONE_SCRIPT));

    /** An issued code's PNG again, by its number (the phone's list shows them). */
    app.get(`${WXACODE_PATH}:file`, async (request, reply) => {
      const match = /^(\d{1,9})\.png$/.exec((request.params as { file: string }).file);
      const entry = match ? codes.code(Number(match[1])) : undefined;
      if (!entry)
        return reply.code(404).send({ error: 'no such mini program code (never issued, or forgotten)' });
      return reply
        .type('image/png')
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .send(entry.png);
    });

    /** A URL Link opened in a phone's browser: to the mini program page with its scene, while it lives. */
    app.get(`${URL_LINK_PATH}:id`, async (request, reply) => {
      const entry = codes.link((request.params as { id: string }).id);
      if (!entry)
        return sendPhonePage(
          reply,
          gonePage('链接已失效', 'This URL Link is unknown to the emulator (or forgotten).'),
          404,
        );
      if (core.now() >= entry.expiresAt!) {
        const at = new Date(entry.expiresAt!).toISOString();
        return sendPhonePage(reply, gonePage('链接已失效', `This URL Link expired at ${at}.`), 410);
      }
      const target = codes.phonePath(entry.appid, entry.scene, 'link');
      return reply.header('cache-control', 'no-store').redirect(target, 302);
    });
    done();
  };
}
