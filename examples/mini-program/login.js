// Mini program side of a WeChat login (app.js or a login page), against the WeChat login server.
// Copy, set API to your server's /graphql, add its domain to the mini program's request allowlist.

const API = 'https://api.example.com/graphql';

const LOGIN = `mutation ($input: WechatMiniLoginInput!) {
  wechatMiniLogin(input: $input) {
    accessToken refreshToken expiresAt isNewUser
    user { id nickname avatarUrl phoneNumber }
  }
}`;

function graphql(query, variables, accessToken) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: API,
      method: 'POST',
      header: Object.assign(
        { 'content-type': 'application/json' },
        accessToken ? { authorization: `Bearer ${accessToken}` } : {},
      ),
      data: { query, variables },
      success: ({ data }) => {
        // Errors carry extensions.code: WECHAT_INVALID_CODE means "call wx.login again".
        if (data.errors && data.errors.length) reject(data.errors[0]);
        else resolve(data.data);
      },
      fail: reject,
    });
  });
}

/** Silent login: wx.login's code only. The code is single use and lives 5 minutes. */
function login() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: ({ code }) =>
        graphql(LOGIN, { input: { code } }).then((d) => resolve(d.wechatMiniLogin), reject),
      fail: reject,
    });
  });
}

/**
 * Login with the profile, from a tap (wx.getUserProfile needs one). Call wx.login FIRST: the
 * profile is encrypted with the session key that this wx.login creates, and the server decrypts
 * it with the key it gets for this code. Newer WeChat versions answer with "微信用户" and a grey
 * avatar; the server keeps a real nickname it already has.
 */
function loginWithProfile() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: ({ code }) =>
        wx.getUserProfile({
          desc: 'Show your name and avatar on your profile',
          success: ({ encryptedData, iv, rawData, signature }) =>
            graphql(LOGIN, { input: { code, encryptedData, iv, rawData, signature } }).then(
              (d) => resolve(d.wechatMiniLogin),
              reject,
            ),
          fail: reject,
        }),
      fail: reject,
    });
  });
}

const BIND_PHONE = `mutation ($code: String!) { bindWechatPhoneNumber(code: $code) { id phoneNumber } }`;

/**
 * The phone number of the signed-in person, from <button open-type="getPhoneNumber"
 * bindgetphonenumber="onGetPhoneNumber">: pass the button's event and your access token. Its code
 * is not a wx.login code (single use, 5 minutes). WECHAT_INVALID_CODE with extensions.field "code"
 * means WeChat refused the phone-number code: ask the person to tap the button again.
 */
function bindPhoneNumber(event, accessToken) {
  if (!event.detail.code) return Promise.reject(new Error(event.detail.errMsg || 'phone number declined'));
  return graphql(BIND_PHONE, { code: event.detail.code }, accessToken).then((d) => d.bindWechatPhoneNumber);
}

/**
 * One tap, "log in with phone": the login and the number together. Pass the getPhoneNumber
 * button's event; wx.login runs here. WeChat refusing the phone code fails the login with
 * extensions.field "phoneCode" before the wx.login code is spent.
 */
function loginWithPhone(event) {
  if (!event.detail.code) return login();
  return new Promise((resolve, reject) => {
    wx.login({
      success: ({ code }) =>
        graphql(LOGIN, { input: { code, phoneCode: event.detail.code } }).then(
          (d) => resolve(d.wechatMiniLogin),
          reject,
        ),
      fail: reject,
    });
  });
}

module.exports = { login, loginWithProfile, loginWithPhone, bindPhoneNumber, graphql };
