import type { EmulatedUser } from './core.js';

/** The cookie in which the emulator remembers the browser's WeChat user (official accounts' snsapi_base). */
export const USER_COOKIE = 'wxemu_user';

const STYLE = `
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f2f2f2;margin:0;color:#191919}
main{max-width:360px;margin:48px auto;background:#fff;border-radius:8px;padding:28px 24px;box-shadow:0 1px 3px #0002}
h1{font-size:20px;margin:0 0 4px}p{color:#666;font-size:14px}
.note{background:#fff7e6;border:1px solid #ffd591;color:#874d00;padding:8px;border-radius:4px;font-size:13px}
label{display:block;padding:8px 0;font-size:15px}input[type=text]{width:100%;box-sizing:border-box;padding:8px;font-size:15px}
button{width:100%;padding:10px;font-size:16px;border:0;border-radius:4px;margin-top:12px;cursor:pointer}
.confirm{background:#07c160;color:#fff}.cancel{background:#f2f2f2;color:#191919}
.error{color:#fa5151;font-size:18px}`;

/** Text or an attribute value, safe inside HTML. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

export interface LoginPageParams {
  appid: string;
  redirectUri: string;
  scope: string;
  state: string;
  users: EmulatedUser[];
  /** Where the form posts: the confirm route of this emulator. */
  action: string;
  title: string;
  /**
   * An official account's snsapi_base: WeChat shows no page, so this one only asks who the
   * browser's WeChat user is (once: the emulator remembers), with no Cancel.
   */
  silent?: boolean;
  /** Offer snapshot mode (快照页模式): the official account's consent page. */
  snapshotOption?: boolean;
}

/** The page a person sees after scanning (or on an official account's consent screen). */
export function loginPage(p: LoginPageParams): string {
  const hidden = (name: string, value: string) =>
    `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  const choices = p.users
    .map(
      (u, i) =>
        `<label><input type="radio" name="user" value="${escapeHtml(u.key)}"${i === 0 ? ' checked' : ''}> ` +
        `${escapeHtml(u.nickname)} <small>(${escapeHtml(u.key)})</small></label>`,
    )
    .join('');
  const note = p.silent
    ? `WeChat would show no page here: snsapi_base is silent, and WeChat redirects at once with a code ` +
      `for the WeChat user who opened the page. The emulator asks who you are once: pick a person or ` +
      `type a new key; this browser remembers them (cookie ${USER_COOKIE}) and is redirected at once ` +
      `from then on. Picking someone on any emulator login page changes who that is.`
    : 'WeChat emulator: this login is simulated. Pick a person or type a new key.';
  const snapshot = p.snapshotOption
    ? `<label><input type="checkbox" name="snapshot" value="1"> Open in snapshot mode (快照页模式): ` +
      `the page gets a virtual account, not this person</label>`
    : '';
  const buttons = p.silent
    ? `<button class="confirm" type="submit" name="action" value="confirm">Continue</button>`
    : `<button class="confirm" type="submit" name="action" value="confirm">Confirm login</button>
<button class="cancel" type="submit" name="action" value="cancel">Cancel</button>`;
  return page(
    p.title,
    `<h1>${escapeHtml(p.title)}</h1>
<p>应用 <code>${escapeHtml(p.appid)}</code> 请求使用你的微信身份登录</p>
<p class="note">${escapeHtml(note)}</p>
<form method="post" action="${escapeHtml(p.action)}">
${hidden('appid', p.appid)}${hidden('redirect_uri', p.redirectUri)}${hidden('scope', p.scope)}${hidden('state', p.state)}
${choices}
<label>New person: <input type="text" name="new_user" placeholder="key, e.g. carol" pattern="[A-Za-z0-9_.\\-]{1,64}"></label>
${snapshot}
${buttons}
</form>`,
  );
}

/** WeChat's "this link cannot be opened" page, with the reason WeChat gives. */
export function errorPage(reason: string): string {
  return page('微信登录', `<h1 class="error">该链接无法访问</h1><p>${escapeHtml(reason)}</p>`);
}
