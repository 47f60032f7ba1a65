import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorAppKind } from './apps.js';
import { UserKey, type EmulatorCore } from './core.js';
import type { Traffic } from './traffic.js';
import type { OAuthApi } from './oauth.api.js';
import { errorPage, loginPage, USER_COOKIE } from './pages.html.js';
import { wechatQuery, type Query } from './wechat-route.js';

const SCOPES: Partial<Record<EmulatorAppKind, string[]>> = {
  web: ['snsapi_login'],
  official: ['snsapi_base', 'snsapi_userinfo'],
};

/** The person this browser remembers as its WeChat user (USER_COOKIE), or null. */
export function rememberedUser(request: FastifyRequest): string | null {
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at >= 0 && pair.slice(0, at).trim() === USER_COOKIE) {
      const key = UserKey.safeParse(pair.slice(at + 1).trim());
      return key.success ? key.data : null;
    }
  }
  return null;
}

/**
 * open.weixin.qq.com's pages: the website QR login (`/connect/qrconnect`) and the official
 * account's consent page (`/connect/oauth2/authorize`), where a person is picked and confirms or
 * cancels; confirming redirects to `redirect_uri` with a code, as WeChat does. The person picked
 * is remembered in a cookie as the browser's WeChat user, for whom an official account's
 * `snsapi_base` is silent (a redirect, no page), as in WeChat.
 */
export function pageRoutes(core: EmulatorCore, oauth: OAuthApi, traffic: Traffic): FastifyPluginCallback {
  /** WeChat's reason for refusing an authorize request, or null when it is well formed. */
  function problemWith(query: Query, kind: EmulatorAppKind): string | null {
    if (!query.appid) return '参数错误: appid 为空 (10012)';
    const known = core.apps.get(query.appid);
    if (!known || known.kind !== kind) return '参数错误: appid 无效';
    if (!query.redirect_uri) return 'redirect_uri 参数错误 (10011)';
    if (!URL.canParse(query.redirect_uri) || !/^https?:$/.test(new URL(query.redirect_uri).protocol)) {
      return 'redirect_uri 参数错误';
    }
    if (query.response_type !== 'code') return 'response_type 参数错误';
    if (!query.scope) return 'Scope 参数错误或没有 Scope 权限 (10010)';
    if (!query.scope.split(',').every((s) => SCOPES[kind]!.includes(s))) {
      return 'Scope 参数错误或没有 Scope 权限';
    }
    if (query.state && query.state.length > 128) return 'state 参数错误';
    return null;
  }

  function html(reply: FastifyReply, body: string, status = 200) {
    return reply.code(status).type('text/html; charset=utf-8').send(body);
  }

  /** Where WeChat sends the browser back: redirect_uri with the code (none when cancelled) and the state. */
  function redirectBack(
    reply: FastifyReply,
    redirectUri: string,
    code: string | null,
    state: string | undefined,
  ) {
    const target = new URL(redirectUri);
    if (code !== null) target.searchParams.set('code', code);
    target.searchParams.set('state', state ?? '');
    return reply.header('cache-control', 'no-store').redirect(target.toString(), 302);
  }

  function showLogin(request: FastifyRequest, reply: FastifyReply, kind: EmulatorAppKind) {
    const query = request.query as Query;
    const problem = problemWith(query, kind);
    // An official account's snsapi_base is silent in WeChat: no page, a code for the browser's user.
    const silent =
      !problem && kind === 'official' && query.scope!.split(',').every((s) => s === 'snsapi_base');
    const remembered = silent ? rememberedUser(request) : null;
    traffic.record(
      {
        method: 'GET',
        path: request.url.split('?')[0]!,
        appid: query.appid ?? null,
        outcome: problem ? 'error-page' : remembered ? 'silent' : 'ok',
      },
      request.raw.socket,
    );
    if (problem) return html(reply, errorPage(problem));
    if (remembered) {
      const code = oauth.authorize(query.appid!, remembered, query.scope);
      return redirectBack(reply, query.redirect_uri!, code, query.state);
    }
    const page = loginPage({
      appid: query.appid!,
      redirectUri: query.redirect_uri!,
      scope: query.scope!,
      state: query.state ?? '',
      users: core.people.list(),
      action: '/connect/confirm',
      title: kind === 'web' ? '微信登录' : '微信授权',
      silent,
      snapshotOption: kind === 'official' && !silent,
    });
    return html(reply.header('cache-control', 'no-store'), page);
  }

  return (app, _options, done) => {
    const authorize = wechatQuery('appid', 'redirect_uri', 'response_type', 'scope', 'state');
    app.get('/connect/qrconnect', { schema: { querystring: authorize } }, (req, rep) =>
      showLogin(req, rep, 'web'),
    );
    app.get('/connect/oauth2/authorize', { schema: { querystring: authorize } }, (req, rep) =>
      showLogin(req, rep, 'official'),
    );

    /** The person's answer on the login page: confirm → redirect with a code; cancel → without. */
    app.post('/connect/confirm', async (request, reply) => {
      const form = (request.body ?? {}) as Query;
      const known = form.appid ? core.apps.get(form.appid) : undefined;
      const problem =
        known && SCOPES[known.kind]
          ? problemWith({ ...form, response_type: 'code' }, known.kind)
          : '参数错误: appid 无效';
      if (problem) return html(reply, errorPage(problem));
      let code: string | null = null;
      if (form.action === 'confirm') {
        const key = UserKey.safeParse(form.new_user?.trim() || form.user);
        if (!key.success) return html(reply, errorPage('请选择或输入用户'), 400);
        const snapshot = form.snapshot === '1' && known!.kind === 'official';
        code = oauth.authorize(known!.appid, key.data, form.scope, snapshot);
        // This person is now the browser's WeChat user: an official account's snsapi_base is silent for them.
        reply.header('set-cookie', `${USER_COOKIE}=${key.data}; Path=/; HttpOnly; SameSite=Lax`);
      }
      traffic.record(
        {
          method: 'POST',
          path: '/connect/confirm',
          appid: known!.appid,
          outcome: form.action ?? 'cancel',
        },
        request.raw.socket,
      );
      return redirectBack(reply, form.redirect_uri!, code, form.state);
    });
    done();
  };
}
