import { PHONE_PATH } from './mini-program-codes.api.js';
import { escapeHtml } from './pages.html.js';

/** The mini program page a login ticket's code or link opens (the server's docs name it so). */
export const TICKET_PAGE = 'pages/login-ticket/index';

/** Where the phone page's script is served (a file of the emulator's own: the CSP allows no inline script). */
export const PHONE_SCRIPT_PATH = '/__emulator/phone.js';

/**
 * The phone pages' Content-Security-Policy: nothing from elsewhere but the login server's GraphQL
 * (its origin in connect-src, when given); the script is the emulator's file, styles are inline.
 */
export function phoneCsp(serverOrigin?: string): string {
  return [
    "default-src 'none'",
    `script-src 'self'`,
    "style-src 'unsafe-inline'",
    "img-src 'self' data:",
    `connect-src 'self'${serverOrigin ? ` ${serverOrigin}` : ''}`,
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const STYLE = `
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#d9d9d9;margin:0;color:#191919}
.phone{width:375px;min-height:700px;margin:24px auto;background:#ededed;border:10px solid #111;border-radius:36px;overflow:hidden;box-shadow:0 4px 16px #0004}
.statusbar{display:flex;justify-content:space-between;padding:8px 20px 4px;font-size:13px;font-weight:600}
.navbar{display:flex;align-items:center;justify-content:space-between;padding:8px 12px;background:#ededed;border-bottom:1px solid #ddd}
.navbar h1{font-size:16px;margin:0;flex:1;text-align:center}
.capsule{border:1px solid #ccc;border-radius:16px;padding:2px 10px;font-size:12px;background:#fff8}
.screen{padding:16px}
.card{background:#fff;border-radius:8px;padding:16px;margin-bottom:12px}
p{font-size:14px;color:#555;margin:8px 0}code{font-size:12px;word-break:break-all}
.note{background:#fff7e6;border:1px solid #ffd591;color:#874d00;padding:8px;border-radius:4px;font-size:12px}
label{display:block;font-size:14px;margin-bottom:4px}
input[type=text]{width:100%;box-sizing:border-box;padding:8px;font-size:15px;border:1px solid #ccc;border-radius:4px}
button{width:100%;padding:10px;font-size:16px;border:0;border-radius:4px;margin-top:12px;cursor:pointer}
button:disabled{opacity:.5;cursor:default}
.primary{background:#07c160;color:#fff}.secondary{background:#f2f2f2;color:#191919}
.ask{font-size:17px;color:#191919}
#status{font-size:15px;color:#191919;min-height:1.4em}
#status[data-state=error],#status[data-state=failed],#status[data-state=expired]{color:#fa5151}
#status[data-state=signed-in],#status[data-state=delivered]{color:#07c160}
select{width:100%;padding:8px;font-size:15px;border:1px solid #ccc;border-radius:4px;background:#fff}
#reply{background:#95ec69;border-radius:4px;padding:8px;color:#191919}#reply.error{background:#fff;color:#fa5151}
.error{color:#fa5151}
ul{list-style:none;padding:0;margin:0}li{background:#fff;border-radius:8px;padding:12px;margin-bottom:12px}
li img{display:block;width:140px;height:140px;margin:8px auto}
.small{font-size:12px;color:#888}`;

function phone(title: string, body: string, attributes = ''): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head><body>
<div class="phone" id="phone"${attributes}>
<div class="statusbar"><span>9:41</span><span>WeChat emulator</span><span>100%</span></div>
<div class="navbar"><span class="capsule">‹</span><h1>${escapeHtml(title)}</h1><span class="capsule">··· ◎</span></div>
<div class="screen">${body}</div>
</div></body></html>`;
}

export interface TicketPageParams {
  appid: string;
  scene: string;
  /** `link`: opened from a URL Link rather than by scanning a code. */
  via: 'code' | 'link';
  /** The login server's GraphQL URL the page calls. */
  server: string;
  /** The person the input starts with. */
  user: string;
  /** Known people, offered in the input's list. */
  people: string[];
  /** The emulator issued a code or link for this scene of this app (a scan of any other is a 404). */
  issued: boolean;
}

/**
 * The mini program page `pages/login-ticket/index` on a phone, opened with `options.scene`: pick a
 * person and press Scan; then the page logs in (wx.login → wechatMiniLogin), scans the ticket and
 * asks to confirm or cancel, as the real mini program does (its script: PHONE_SCRIPT).
 */
export function ticketPage(p: TicketPageParams): string {
  const data =
    ` data-appid="${escapeHtml(p.appid)}" data-scene="${escapeHtml(p.scene)}"` +
    ` data-server="${escapeHtml(p.server)}" data-via="${p.via}"`;
  const opened = p.via === 'link' ? 'opened from its URL Link' : 'opened by scanning its mini program code';
  const warning = p.issued
    ? ''
    : `<p class="note error" id="not-issued">The emulator issued no code or link with this scene for this mini program: Scan will fail (404).</p>`;
  return phone(
    '登录确认',
    `<div class="card">
<p class="note">WeChat emulator: mini program <code id="appid">${escapeHtml(p.appid)}</code>, page
<code>${TICKET_PAGE}</code>, ${opened}, <code>options.scene</code> = <code id="scene">${escapeHtml(p.scene)}</code>.</p>
${warning}
<label for="user">WeChat user 微信用户</label>
<input type="text" id="user" data-testid="user" value="${escapeHtml(p.user)}" list="people" autocomplete="off" pattern="[A-Za-z0-9_.\\-]{1,64}">
<datalist id="people">${p.people.map((key) => `<option value="${escapeHtml(key)}">`).join('')}</datalist>
<button type="button" class="primary" id="scan" data-testid="scan">Scan 扫码</button>
</div>
<div class="card" id="ask" data-testid="ask" hidden>
<p class="ask" id="ask-text">A website asks to sign in as <strong id="nickname"></strong></p>
<p>网页请求使用你的帐号登录 · expires <time id="expires"></time></p>
<button type="button" class="primary" id="confirm" data-testid="confirm">Confirm 确认登录</button>
<button type="button" class="secondary" id="cancel" data-testid="cancel">Cancel 取消</button>
</div>
<div class="card">
<p id="status" data-testid="status" role="status" data-state="idle">Pick a person and press Scan.</p>
<p class="error" id="error" data-testid="error" hidden><code id="error-code"></code> <span id="error-message"></span></p>
</div>
<p class="small">Login server: <code id="server">${escapeHtml(p.server)}</code> ·
<a href="${PHONE_PATH}" id="all-issued">all codes and links</a></p>
<script src="${PHONE_SCRIPT_PATH}"></script>`,
    data,
  );
}

/** One remembered code or link, as the phone's list shows it. */
export interface IssuedItem {
  kind: 'code' | 'link';
  appid: string;
  scene: string | null;
  page: string | null;
  issuedAt: string;
  /** A code's PNG (on the emulator). */
  pngUrl?: string;
  /** A link's url_link, its end and whether that has passed. */
  urlLink?: string;
  expiresAt?: string;
  expired?: boolean;
  /** The phone page for its scene (null for a link without one). */
  phoneUrl: string | null;
}

/** The phone without a scene: the codes and links issued recently, newest first, to pick one. */
export function issuedListPage(items: IssuedItem[], notice?: string): string {
  const rows = items.map((item) => {
    const scene = item.scene === null ? '<em>none</em>' : `<code>${escapeHtml(item.scene)}</code>`;
    const what =
      item.kind === 'code'
        ? `<img src="${escapeHtml(item.pngUrl!)}" alt="mini program code, scene ${escapeHtml(item.scene ?? '')}" loading="lazy">`
        : `<p>URL Link <a href="${escapeHtml(item.urlLink!)}">${escapeHtml(item.urlLink!)}</a><br>` +
          `<span class="small">${item.expired ? 'expired' : 'expires'} ${escapeHtml(item.expiresAt!)}</span></p>`;
    const open =
      item.phoneUrl === null
        ? ''
        : `<a href="${escapeHtml(item.phoneUrl)}">${item.kind === 'code' ? 'Scan this code 扫码' : 'Open 打开'}</a>`;
    return (
      `<li data-kind="${item.kind}" data-scene="${escapeHtml(item.scene ?? '')}">` +
      `<p><strong>${item.kind === 'code' ? 'Mini program code 小程序码' : 'URL Link'}</strong> · ` +
      `<code>${escapeHtml(item.appid)}</code> · scene ${scene}</p>` +
      `${what}<p class="small">page <code>${escapeHtml(item.page ?? '(home)')}</code> · ${escapeHtml(item.issuedAt)}</p>` +
      `${open}</li>`
    );
  });
  const list =
    rows.length > 0
      ? `<ul id="issued">${rows.join('')}</ul>`
      : `<p id="issued-empty">No mini program code or URL Link issued yet: the emulator lists here the ones its ` +
        `<code>/wxa/getwxacodeunlimit</code> and <code>/wxa/generate_urllink</code> made, newest first.</p>`;
  return phone(
    '微信 · 扫一扫',
    `${notice ? `<p class="note error" id="notice">${escapeHtml(notice)}</p>` : ''}
<p class="note">WeChat emulator: the mini program codes and URL Links issued recently. Scan one (or open a link)
to run the mini program page it opens.</p>
${list}`,
  );
}

/** What a phone shows for a URL Link (链接已失效) or an Official Account's QR code (二维码已过期) that is unknown or has expired. */
export function gonePage(heading: string, reason: string): string {
  return phone(
    '微信',
    `<div class="card"><h2 class="error" id="gone">${escapeHtml(heading)}</h2><p>${escapeHtml(reason)}</p></div>`,
  );
}

/** Where the Official Account QR page's script is served. */
export const OA_QR_SCRIPT_PATH = '/__emulator/oa-qr.js';

export interface OaQrPageParams {
  appid: string;
  originalId: string;
  scene: string;
  ticket: string;
  /** ISO 8601; null: a permanent code. */
  expiresAt: string | null;
  /** Where WeChat pushes the account's events. */
  eventUrl: string;
  /** Known people, offered in the picker; `user` is selected. */
  people: string[];
  user: string;
}

/**
 * What WeChat shows a person who scanned an Official Account's parametric QR code: the account,
 * and a button that follows it (or, following already, just scans); WeChat then pushes the event
 * to the account's server and shows its passive reply, if any (its script: OA_QR_SCRIPT).
 */
export function oaQrPage(p: OaQrPageParams): string {
  const people = p.people.includes(p.user) ? p.people : [p.user, ...p.people];
  const options = people
    .map(
      (key) =>
        `<option value="${escapeHtml(key)}"${key === p.user ? ' selected' : ''}>${escapeHtml(key)}</option>`,
    )
    .join('');
  const expiry = p.expiresAt === null ? 'permanent' : `expires <time>${escapeHtml(p.expiresAt)}</time>`;
  return phone(
    '公众号',
    `<div class="card">
<p class="note">WeChat emulator: the QR code of Official Account <code id="appid">${escapeHtml(p.appid)}</code>
(<code id="original-id">${escapeHtml(p.originalId)}</code>), scene <code id="scene">${escapeHtml(p.scene)}</code>, ${expiry}.
A scan follows the account if the person does not yet (event <code>subscribe</code>), else it is a
<code>SCAN</code> event; WeChat pushes it to <code id="event-url">${escapeHtml(p.eventUrl)}</code>.</p>
<label for="user">WeChat user 微信用户</label>
<select id="user" data-testid="user">${options}</select>
<button type="button" class="primary" id="scan" data-testid="scan">Scan 扫码 (follows the account if not yet)</button>
</div>
<div class="card">
<p id="status" data-testid="status" role="status" data-state="idle">Pick a person and press Scan.</p>
<p id="reply" data-testid="reply" hidden></p>
</div>
<script src="${OA_QR_SCRIPT_PATH}"></script>`,
    ` data-ticket="${escapeHtml(p.ticket)}"`,
  );
}

/**
 * The Official Account QR page's script: POSTs the scan to the emulator (which follows, pushes the
 * event and reads the server's reply), then shows how the push went and the reply's text.
 */
export const OA_QR_SCRIPT = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var ticket = $('phone').dataset.ticket;

  function show(state, text) {
    $('status').dataset.state = state;
    $('status').textContent = text;
  }

  function outcome(response, answer) {
    if (response.status === 410) return show('expired', answer.error || '二维码已过期');
    if (!response.ok) return show('failed', 'Failed 失败: ' + (answer.error || response.status));
    if (answer.attempts === 0) return show('failed', 'Nothing pushed: the account has no Token (server configuration)');
    if (!answer.delivered) {
      var why = answer.status === null ? 'no answer after ' + answer.attempts + ' attempts' : 'HTTP ' + answer.status;
      return show('failed', answer.event + ' pushed, the server failed: ' + why + ' (该公众号暂时无法提供服务)');
    }
    show('delivered', answer.event + ' pushed, the server answered HTTP ' + answer.status);
    if (answer.reply !== null || answer.replyError) {
      $('reply').textContent = answer.replyError ? 'Reply refused: ' + answer.replyError : answer.reply;
      $('reply').className = answer.replyError ? 'error' : '';
      $('reply').hidden = false;
    }
  }

  $('scan').addEventListener('click', function () {
    var user = $('user').value;
    $('scan').disabled = true;
    $('reply').hidden = true;
    show('pushing', 'Scanning as ' + user + '… 扫码中');
    fetch('/__emulator/oa-qr/' + encodeURIComponent(ticket) + '/scan', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: user })
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (answer) { outcome(response, answer); });
      })
      .catch(function (e) { show('failed', 'The emulator did not answer (' + e.message + ')'); })
      .then(function () { $('scan').disabled = false; });
  });
})();
`;

/**
 * The phone page's script: what the mini program page does once opened with `options.scene`. It
 * reads the page's data attributes, mints a wx.login code through POST /__emulator/scan, then calls
 * the login server's GraphQL: wechatMiniLogin, scanLoginTicket, and confirmLoginTicket or
 * cancelLoginTicket. Values go into the queries as GraphQL string literals (JSON's form is one),
 * so the page needs no knowledge of the server's argument types.
 */
export const PHONE_SCRIPT = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var data = $('phone').dataset;
  var appid = data.appid, scene = data.scene, server = data.server;
  var accessToken = null;
  var buttons = ['scan', 'confirm', 'cancel'];

  function Failure(code, message) { this.code = code; this.message = message; }

  function busy(on) { buttons.forEach(function (id) { $(id).disabled = on; }); }

  function show(state, text) {
    var status = $('status');
    status.dataset.state = state;
    status.textContent = text;
    if (state !== 'error') $('error').hidden = true;
  }

  function fail(error) {
    var code = error instanceof Failure ? error.code : 'SCRIPT_ERROR';
    $('error-code').textContent = code;
    $('error-message').textContent = error && error.message ? error.message : String(error);
    $('error').hidden = false;
    show('error', 'Failed 失败: ' + code);
  }

  function post(url, body, headers) {
    return fetch(url, { method: 'POST', headers: headers, body: JSON.stringify(body) }).catch(function (e) {
      throw new Failure('NETWORK_ERROR', url + ' did not answer (' + e.message + ')');
    });
  }

  function emulator(path, body) {
    return post(path, body, { 'content-type': 'application/json' }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) throw new Failure('EMULATOR_' + response.status, answer.error || response.statusText);
        return answer;
      });
    });
  }

  function graphql(query) {
    var headers = { 'content-type': 'application/json' };
    if (accessToken) headers.authorization = 'Bearer ' + accessToken;
    return post(server, { query: query }, headers).then(function (response) {
      return response.json().catch(function () {
        throw new Failure('HTTP_' + response.status, 'the login server answered without JSON');
      }).then(function (answer) {
        var error = answer.errors && answer.errors[0];
        if (error) throw new Failure((error.extensions && error.extensions.code) || 'GRAPHQL_ERROR', error.message);
        if (!response.ok || !answer.data) throw new Failure('HTTP_' + response.status, 'no data in the answer');
        return answer.data;
      });
    });
  }

  var literal = function (value) { return JSON.stringify(String(value)); };

  $('scan').addEventListener('click', function () {
    var user = $('user').value.trim();
    var nickname = user;
    accessToken = null;
    $('ask').hidden = true;
    busy(true);
    show('scanning', 'Scanning as ' + user + '… 扫码中');
    emulator('/__emulator/scan', { appid: appid, scene: scene, user: user })
      .then(function (scan) {
        show('logging-in', 'Logging in 登录中 (wx.login → wechatMiniLogin)…');
        return graphql('mutation { wechatMiniLogin(input: { code: ' + literal(scan.code) + ', appId: ' +
          literal(appid) + ' }) { accessToken user { id nickname } } }');
      })
      .then(function (login) {
        accessToken = login.wechatMiniLogin.accessToken;
        nickname = login.wechatMiniLogin.user.nickname || user;
        return graphql('mutation { scanLoginTicket(scene: ' + literal(scene) + ') { ticketId expiresAt } }');
      })
      .then(function (scanned) {
        var expiresAt = scanned.scanLoginTicket.expiresAt;
        $('nickname').textContent = nickname;
        $('expires').dateTime = String(expiresAt);
        $('expires').textContent = new Date(expiresAt).toLocaleString();
        $('ask').dataset.ticketId = scanned.scanLoginTicket.ticketId;
        $('ask').hidden = false;
        show('asking', 'Confirm or cancel on your phone 请确认');
      })
      .catch(fail)
      .then(function () { busy(false); });
  });

  function answer(field, done) {
    busy(true);
    graphql('mutation { ' + field + '(scene: ' + literal(scene) + ') }')
      .then(function (result) {
        if (result[field] !== true) throw new Failure('NOT_DONE', field + ' answered ' + result[field]);
        $('ask').hidden = true;
        done();
      })
      .catch(fail)
      .then(function () { busy(false); });
  }

  $('confirm').addEventListener('click', function () {
    answer('confirmLoginTicket', function () { show('signed-in', 'Signed in on the website 已在网页登录'); });
  });
  $('cancel').addEventListener('click', function () {
    answer('cancelLoginTicket', function () { show('cancelled', 'Cancelled 已取消'); });
  });
})();
`;
