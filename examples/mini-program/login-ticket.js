// The mini program page a website's login ticket opens: pages/login-ticket/index (list it in
// app.json's "pages"; the server's WECHAT_MINI_TICKET_PAGE names it, this path by default). Pairs
// with login-ticket.wxml. A mini program code (scanned) or a URL Link (opened from a phone's
// browser) opens it with the ticket's scene; the person, signed in here, confirms that the website
// may sign in as them, and the website's page receives a session of theirs (docs/api.md, "Login
// tickets"). Uses login() and graphql() from login.js.

const { login, graphql } = require('./login.js');

const SCAN = `mutation ($scene: String!) { scanLoginTicket(scene: $scene) { ticketId expiresAt } }`;
const CONFIRM = `mutation ($scene: String!) { confirmLoginTicket(scene: $scene) }`;
const CANCEL = `mutation ($scene: String!) { cancelLoginTicket(scene: $scene) }`;

/** What to tell the person, by the error's extensions.code. */
const MESSAGES = {
  // Past its time (5 minutes by default), or already confirmed or cancelled.
  TICKET_EXPIRED:
    'This code has expired: refresh it on the website and scan again. 二维码已过期，请在网页上刷新后重新扫码',
  // A scene nobody made, or a ticket someone else scanned first.
  TICKET_NOT_FOUND: 'This login code is not valid (or someone else scanned it first). 二维码无效',
  BAD_USER_INPUT: 'This is not a login code. 这不是登录二维码',
  UNAUTHENTICATED: 'Your session here has ended: open the code again. 登录已失效，请重新扫码',
  RATE_LIMITED: 'Too many attempts: wait a minute and try again. 操作太频繁，请稍后再试',
};

/** "14:05" from an ISO time: when the ticket stops accepting a confirmation. */
function timeOf(iso) {
  const at = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

Page({
  // step: loading → ask → confirmed | cancelled; error at any point.
  data: { step: 'loading', nickname: '', expiresAt: '', error: '', busy: false },

  onLoad(options) {
    // WeChat passes the scene URL-encoded: the code's `scene`, or the scene= of a URL Link's query.
    this.scene = decodeURIComponent(options.scene || '');
    if (!this.scene) {
      this.fail({ extensions: { code: 'BAD_USER_INPUT' } });
      return;
    }
    // The person's session in this mini program (wx.login → wechatMiniLogin, silent), then the
    // ticket becomes theirs: only they may confirm or cancel it now.
    login()
      .then((session) => {
        this.accessToken = session.accessToken;
        this.nickname = session.user.nickname || 'your WeChat account';
        return graphql(SCAN, { scene: this.scene }, this.accessToken);
      })
      .then(({ scanLoginTicket }) => {
        this.setData({
          step: 'ask',
          nickname: this.nickname,
          expiresAt: timeOf(scanLoginTicket.expiresAt),
        });
      })
      .catch((error) => this.fail(error));
  },

  onConfirm() {
    this.answer(CONFIRM, 'confirmed');
  },

  onCancel() {
    this.answer(CANCEL, 'cancelled');
  },

  /** confirmLoginTicket or cancelLoginTicket; the same answer again changes nothing (true). */
  answer(query, step) {
    this.setData({ busy: true });
    graphql(query, { scene: this.scene }, this.accessToken)
      .then(() => this.setData({ step }))
      .catch((error) => this.fail(error))
      .then(() => this.setData({ busy: false }));
  },

  fail(error) {
    const code = (error && error.extensions && error.extensions.code) || '';
    this.setData({
      step: 'error',
      // Anything else (WECHAT_*, the network): the message says what, and a retry may help.
      error:
        MESSAGES[code] ||
        `Something went wrong, try again. 出错了，请重试 (${code || error.errMsg || error.message})`,
    });
  },
});
