import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * The provider's pages (sign-in, consent, logout, errors): plain HTML, one stylesheet and one small
 * script of our own served from /oidc/assets/ (nothing inline, nothing from elsewhere: the CSP in
 * src/server/oidc.ts allows 'self' only), in Chinese or English by the browser's language.
 */

export type Lang = 'zh' | 'en';

/** Chinese when the browser prefers it to English, else English. */
export function langOf(acceptLanguage: string | undefined): Lang {
  const ranked = (acceptLanguage ?? '')
    .split(',')
    .slice(0, 20)
    .map((part) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag, q: q === undefined ? 1 : Number(q) };
    })
    .filter((entry) => entry.tag.startsWith('zh') || entry.tag.startsWith('en'))
    .sort((a, b) => b.q - a.q);
  return ranked[0]?.tag.startsWith('zh') ? 'zh' : 'en';
}

/** Text as HTML: the five characters that matter escaped. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const TEXT = {
  zh: {
    signInTitle: '登录',
    signInTo: (app: string) => `登录以继续使用 <strong>${app}</strong>`,
    web: '微信扫码登录',
    webHint: '在微信开放平台的页面上扫码',
    mini: '小程序码登录',
    miniHint: '用微信扫描小程序码，在小程序里确认',
    follow: '关注公众号登录',
    followHint: '用微信扫码关注公众号即可登录',
    inside: '使用微信登录',
    insideHint: '你正在微信中浏览，一步即可登录',
    none: '这台服务器还没有配置可以在这里使用的微信登录方式。',
    waiting: '请用微信扫描二维码',
    scanned: '已扫码，请在手机上确认',
    confirmed: '已确认，正在返回…',
    expired: '二维码已过期',
    cancelled: '已在手机上取消',
    retry: '刷新二维码',
    failed: '出错了，请重试',
    back: '换一种方式',
    consentTitle: '授权',
    consentAsk: (app: string) => `<strong>${app}</strong> 想要：`,
    scopes: {
      openid: '知道你是谁（你的账号标识）',
      profile: '你的昵称和头像',
      phone: '你的手机号',
      offline_access: '在你离开后保持登录',
    } as Record<string, string>,
    allow: '允许',
    deny: '拒绝',
    consentNote: '你可以随时在该应用中退出登录。',
    logoutTitle: '退出登录',
    logoutAsk: (app?: string) => (app ? `要退出 <strong>${app}</strong> 的登录吗？` : '要退出登录吗？'),
    logoutYes: '退出登录',
    logoutNo: '保持登录',
    loggedOut: (app?: string) => (app ? `你已退出 <strong>${app}</strong>。` : '你已退出登录。'),
    errorTitle: '无法继续',
    errorBody: '这个登录请求无法完成。请回到原来的应用重新开始。',
    noscript: '小程序码和公众号登录需要启用 JavaScript。',
    footer: '由微信登录服务器提供',
  },
  en: {
    signInTitle: 'Sign in',
    signInTo: (app: string) => `Sign in to continue to <strong>${app}</strong>`,
    web: 'Scan with WeChat',
    webHint: "On WeChat's QR login page",
    mini: 'Mini program code',
    miniHint: 'Scan the code with WeChat and confirm in the mini program',
    follow: 'Follow the Official Account',
    followHint: 'Scan with WeChat and follow to sign in',
    inside: 'Continue with WeChat',
    insideHint: 'You are browsing inside WeChat: one step signs you in',
    none: 'This server has no WeChat login configured that can be used here.',
    waiting: 'Scan the code with WeChat',
    scanned: 'Scanned: confirm on your phone',
    confirmed: 'Confirmed, returning…',
    expired: 'This code has expired',
    cancelled: 'Cancelled on the phone',
    retry: 'New code',
    failed: 'Something went wrong, try again',
    back: 'Another way',
    consentTitle: 'Authorize',
    consentAsk: (app: string) => `<strong>${app}</strong> would like to:`,
    scopes: {
      openid: 'Know who you are (your account id)',
      profile: 'See your nickname and avatar',
      phone: 'See your phone number',
      offline_access: 'Keep you signed in while you are away',
    } as Record<string, string>,
    allow: 'Allow',
    deny: 'Deny',
    consentNote: 'You can sign out of the app at any time.',
    logoutTitle: 'Sign out',
    logoutAsk: (app?: string) => (app ? `Sign out of <strong>${app}</strong>?` : 'Sign out?'),
    logoutYes: 'Sign out',
    logoutNo: 'Stay signed in',
    loggedOut: (app?: string) =>
      app ? `You have signed out of <strong>${app}</strong>.` : 'You have signed out.',
    errorTitle: 'Cannot continue',
    errorBody: 'This sign-in request cannot be completed. Go back to the app and start again.',
    noscript: 'The mini program code and Official Account logins need JavaScript.',
    footer: 'WeChat login server',
  },
} as const;

export type PageText = (typeof TEXT)[Lang];

export const textOf = (lang: Lang): PageText => TEXT[lang];

/** The pages' icon, inline (a browser asks for none from the server): a green speech bubble. */
const ICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Cpath fill='%2307c160' d='M16 4C8.8 4 3 8.9 3 15c0 3.4 1.8 6.4 4.7 8.4L6.5 28l5-2.6c1.4.4 2.9.6 4.5.6 7.2 0 13-4.9 13-11S23.2 4 16 4z'/%3E%3C/svg%3E";

/** The page around a card: our stylesheet, our script when the page needs it, nothing else. */
function page(lang: Lang, title: string, body: string, assets: string, script = false): string {
  return `<!doctype html>
<html lang="${lang === 'zh' ? 'zh-CN' : 'en'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="${ICON}">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${assets}/oidc.css">
${script ? `<script src="${assets}/sign-in.js" defer></script>` : ''}
</head>
<body>
<main class="card">
${body}
</main>
<footer>${escapeHtml(TEXT[lang].footer)}</footer>
</body>
</html>`;
}

/** The logins the sign-in page offers, as the server is configured. */
export interface SignInOptions {
  web: boolean;
  mini: boolean;
  follow: boolean;
  /** Inside WeChat's browser with an Official Account configured: its page signs in directly. */
  inside: boolean;
}

/** The sign-in page of interaction `uid`: each login the server has, the client's name above. */
export function signInPage(input: {
  lang: Lang;
  base: string;
  uid: string;
  clientName: string;
  options: SignInOptions;
  /** A message to show above the choices (a failed attempt). */
  notice?: string;
}): string {
  const { lang, base, uid, options } = input;
  const t = TEXT[lang];
  const here = `${base}/interaction/${encodeURIComponent(uid)}`;
  const choice = (href: string, label: string, hint: string, primary = false) =>
    `<a class="choice${primary ? ' primary' : ''}" href="${href}"><span class="label">${escapeHtml(label)}</span><span class="hint">${escapeHtml(hint)}</span></a>`;
  const ticket = (kind: 'mini' | 'follow', label: string, hint: string) =>
    `<button type="button" class="choice" data-ticket="${kind}"><span class="label">${escapeHtml(label)}</span><span class="hint">${escapeHtml(hint)}</span></button>`;
  const choices = [
    options.inside && choice(`${here}/wechat/official`, t.inside, t.insideHint, true),
    options.web && choice(`${here}/wechat/web`, t.web, t.webHint, !options.inside),
    options.mini && ticket('mini', t.mini, t.miniHint),
    options.follow && ticket('follow', t.follow, t.followHint),
  ].filter(Boolean);
  const body = `
<h1>${escapeHtml(t.signInTitle)}</h1>
<p class="lead">${t.signInTo(escapeHtml(input.clientName))}</p>
${input.notice ? `<p class="notice" role="alert">${escapeHtml(input.notice)}</p>` : ''}
<div id="choices" class="choices">
${choices.length ? choices.join('\n') : `<p class="notice">${escapeHtml(t.none)}</p>`}
</div>
${options.mini || options.follow ? `<noscript><p class="hint">${escapeHtml(t.noscript)}</p></noscript>` : ''}
<section id="ticket" class="ticket" hidden
  data-endpoint="${here}/ticket"
  data-text='${escapeHtml(JSON.stringify({ waiting: t.waiting, scanned: t.scanned, confirmed: t.confirmed, expired: t.expired, cancelled: t.cancelled, failed: t.failed }))}'>
  <img id="ticket-code" alt="" width="220" height="220">
  <p id="ticket-state" class="state" aria-live="polite"></p>
  <div class="actions">
    <button type="button" id="ticket-retry" class="link" hidden>${escapeHtml(t.retry)}</button>
    <button type="button" id="ticket-back" class="link">${escapeHtml(t.back)}</button>
  </div>
</section>`;
  return page(lang, t.signInTitle, body, `${base}/assets`, options.mini || options.follow);
}

/** The consent page: what the client asks for, Allow and Deny (each a POST to our origin). */
export function consentPage(input: {
  lang: Lang;
  base: string;
  uid: string;
  clientName: string;
  scopes: string[];
}): string {
  const { lang, base, uid } = input;
  const t = TEXT[lang];
  const here = `${base}/interaction/${encodeURIComponent(uid)}`;
  const items = input.scopes
    .map((scope) => t.scopes[scope])
    .filter((text): text is string => text !== undefined)
    .map((text) => `<li>${escapeHtml(text)}</li>`)
    .join('');
  const body = `
<h1>${escapeHtml(t.consentTitle)}</h1>
<p class="lead">${t.consentAsk(escapeHtml(input.clientName))}</p>
<ul class="scopes">${items}</ul>
<div class="buttons">
  <form method="post" action="${here}/abort"><button type="submit" class="secondary">${escapeHtml(t.deny)}</button></form>
  <form method="post" action="${here}/consent"><button type="submit" class="primary" autofocus>${escapeHtml(t.allow)}</button></form>
</div>
<p class="hint">${escapeHtml(t.consentNote)}</p>`;
  return page(lang, t.consentTitle, body, `${base}/assets`);
}

/** A page that says why a step cannot go on, with the way back to the sign-in page when there is one. */
export function messagePage(input: { lang: Lang; base: string; title: string; text: string; back?: string }) {
  const t = TEXT[input.lang];
  const body = `
<h1>${escapeHtml(input.title)}</h1>
<p class="lead">${escapeHtml(input.text)}</p>
${input.back ? `<p><a class="choice primary" href="${input.back}"><span class="label">${escapeHtml(t.back)}</span></a></p>` : ''}`;
  return page(input.lang, input.title, body, `${input.base}/assets`);
}

const baseOf = (ctx: KoaContextWithOIDC) =>
  new URL(ctx.oidc.urlFor('authorization')).pathname.replace(/\/auth$/, '');

/**
 * The provider's error page: the standard OAuth error and its description (never a stack), and
 * never a redirect: an unregistered redirect URI ends here.
 */
export function errorPage(
  ctx: KoaContextWithOIDC,
  out: { error?: string; error_description?: string },
): string {
  const lang = langOf(ctx.get('accept-language'));
  const t = TEXT[lang];
  const body = `
<h1>${escapeHtml(t.errorTitle)}</h1>
<p class="lead">${escapeHtml(t.errorBody)}</p>
<dl class="error"><dt>error</dt><dd><code>${escapeHtml(out.error ?? 'server_error')}</code></dd>
${out.error_description ? `<dt>error_description</dt><dd>${escapeHtml(out.error_description)}</dd>` : ''}</dl>`;
  return page(lang, t.errorTitle, body, `${safeBase(ctx)}/assets`);
}

/** The mount's base path for an error page (which may come before the provider knows its routes). */
function safeBase(ctx: KoaContextWithOIDC): string {
  try {
    return baseOf(ctx);
  } catch {
    return '/oidc';
  }
}

/** RP-initiated logout's question: `form` is the provider's (its action and xsrf field). */
export function logoutPage(ctx: KoaContextWithOIDC, form: string, clientName: string | undefined): string {
  const lang = langOf(ctx.get('accept-language'));
  const t = TEXT[lang];
  const body = `
<h1>${escapeHtml(t.logoutTitle)}</h1>
<p class="lead">${t.logoutAsk(clientName === undefined ? undefined : escapeHtml(clientName))}</p>
${form}
<div class="buttons">
  <button type="submit" form="op.logoutForm" class="secondary">${escapeHtml(t.logoutNo)}</button>
  <button type="submit" form="op.logoutForm" name="logout" value="yes" class="primary" autofocus>${escapeHtml(t.logoutYes)}</button>
</div>`;
  return page(lang, t.logoutTitle, body, `${safeBase(ctx)}/assets`);
}

/** After a logout with no post_logout_redirect_uri. */
export function loggedOutPage(ctx: KoaContextWithOIDC, clientName: string | undefined): string {
  const lang = langOf(ctx.get('accept-language'));
  const t = TEXT[lang];
  const body = `
<h1>${escapeHtml(t.logoutTitle)}</h1>
<p class="lead">${t.loggedOut(clientName === undefined ? undefined : escapeHtml(clientName))}</p>`;
  return page(lang, t.logoutTitle, body, `${safeBase(ctx)}/assets`);
}

/** The stylesheet of every page. */
export const STYLESHEET = `
:root{color-scheme:light dark;--green:#07c160;--green-dark:#06ad56;--ink:#1f2328;--muted:#5f6b76;--line:#e3e6ea;--card:#fff;--bg:#f3f5f7}
@media (prefers-color-scheme:dark){:root{--ink:#e6e8ea;--muted:#9aa4ad;--line:#30363d;--card:#1c2128;--bg:#0f1317}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;background:var(--bg);color:var(--ink);font:16px/1.5 -apple-system,BlinkMacSystemFont,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Segoe UI",Roboto,sans-serif;padding:24px 16px}
.card{width:100%;max-width:400px;background:var(--card);border:1px solid var(--line);border-radius:16px;padding:32px 28px;box-shadow:0 8px 24px rgba(0,0,0,.06)}
h1{margin:0 0 8px;font-size:22px;font-weight:600}
.lead{margin:0 0 24px;color:var(--muted)}
.lead strong{color:var(--ink)}
.choices{display:flex;flex-direction:column;gap:12px}
.choice{display:flex;flex-direction:column;align-items:flex-start;width:100%;text-align:left;padding:14px 16px;border:1px solid var(--line);border-radius:12px;background:transparent;color:var(--ink);font:inherit;text-decoration:none;cursor:pointer}
.choice:hover,.choice:focus-visible{border-color:var(--green);outline:none}
.choice.primary{background:var(--green);border-color:var(--green);color:#fff}
.choice.primary .hint{color:rgba(255,255,255,.85)}
.choice.primary:hover{background:var(--green-dark)}
.label{font-weight:600}
.hint{font-size:13px;color:var(--muted)}
.notice{padding:10px 12px;border-radius:8px;background:rgba(250,81,81,.1);color:#c53030;font-size:14px}
.ticket{display:flex;flex-direction:column;align-items:center;gap:12px}
.ticket img{width:220px;height:220px;border-radius:8px;border:1px solid var(--line);background:#fff}
.state{margin:0;font-weight:500}
.actions{display:flex;gap:16px}
button.link{background:none;border:0;color:var(--green-dark);font:inherit;cursor:pointer;padding:4px}
.scopes{margin:0 0 24px;padding-left:20px}
.scopes li{margin:6px 0}
.buttons{display:flex;gap:12px;justify-content:flex-end}
.buttons form{margin:0}
button.primary,button.secondary{font:inherit;font-weight:600;padding:10px 20px;border-radius:10px;cursor:pointer;border:1px solid var(--green)}
button.primary{background:var(--green);color:#fff}
button.secondary{background:transparent;color:var(--ink);border-color:var(--line)}
dl.error{font-size:14px;color:var(--muted)}
dl.error dd{margin:0 0 8px}
footer{margin-top:16px;font-size:12px;color:var(--muted)}
`;

/**
 * The sign-in page's script: a ticket (mini program code or Official Account QR) is made by a POST
 * to this interaction, shown, and its state asked every 2 s until it is confirmed (then the browser
 * goes where the server says), cancelled or expired.
 */
export const SIGN_IN_SCRIPT = `'use strict';
(function () {
  var section = document.getElementById('ticket');
  var choices = document.getElementById('choices');
  if (!section || !choices) return;
  var endpoint = section.getAttribute('data-endpoint');
  var text = JSON.parse(section.getAttribute('data-text'));
  var img = document.getElementById('ticket-code');
  var state = document.getElementById('ticket-state');
  var retry = document.getElementById('ticket-retry');
  var back = document.getElementById('ticket-back');
  var timer = null;
  var kind = null;
  var generation = 0;
  function stop() { if (timer) { clearTimeout(timer); timer = null; } generation++; }
  function show(message, again) { state.textContent = message; retry.hidden = !again; }
  function post(url, headers) {
    return fetch(url, { method: 'POST', headers: headers || {}, credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    });
  }
  function poll(ticket, mine) {
    post(endpoint + '/' + encodeURIComponent(ticket.id), { 'x-ticket-secret': ticket.secret }).then(function (s) {
      if (mine !== generation) return;
      if (s.state === 'CONFIRMED' && s.redirect) { show(text.confirmed, false); window.location.assign(s.redirect); return; }
      if (s.state === 'SCANNED') show(text.scanned, false);
      if (s.state === 'EXPIRED') { show(text.expired, true); return; }
      if (s.state === 'CANCELLED') { show(text.cancelled, true); return; }
      timer = setTimeout(function () { poll(ticket, mine); }, 2000);
    }, function () { if (mine === generation) show(text.failed, true); });
  }
  function start() {
    stop();
    var mine = generation;
    show(text.waiting, false);
    img.removeAttribute('src');
    post(endpoint + '?kind=' + kind).then(function (ticket) {
      if (mine !== generation) return;
      img.src = ticket.qrCode;
      timer = setTimeout(function () { poll(ticket, mine); }, 2000);
    }, function () { if (mine === generation) show(text.failed, true); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-ticket]'), function (button) {
    button.addEventListener('click', function () {
      kind = button.getAttribute('data-ticket');
      choices.hidden = true;
      section.hidden = false;
      start();
    });
  });
  retry.addEventListener('click', start);
  back.addEventListener('click', function () { stop(); section.hidden = true; choices.hidden = false; });
})();
`;
