// Profile fill page (profile.wxml): the person's own avatar and nickname → updateProfile.
// Uses graphql() from login.js and the access token its login() answered.

const { graphql } = require('./login.js');

// YOUR upload endpoint (not the login server's): see uploadAvatar. Add its domain to the mini
// program's uploadFile allowlist.
const UPLOAD_URL = 'https://upload.example.com/avatars';

const UPDATE_PROFILE = `mutation ($input: UpdateProfileInput!) {
  updateProfile(input: $input) { id nickname avatarUrl }
}`;

/**
 * chooseAvatar gives a temporary file on this phone (http://tmp/… or wxfile://…) that no one else
 * can open, and the login server takes only an https URL: upload the file to storage your product
 * controls (your own endpoint, object storage, cloud storage) and send the URL that answers. That
 * endpoint should check the access token, the size and that it is an image. Assumed answer here:
 * {"url":"https://cdn.example.com/…"}.
 */
function uploadAvatar(tempFilePath, accessToken) {
  return new Promise((resolve, reject) => {
    wx.uploadFile({
      url: UPLOAD_URL,
      filePath: tempFilePath,
      name: 'avatar',
      header: { authorization: `Bearer ${accessToken}` },
      success: ({ statusCode, data }) => {
        if (statusCode !== 200) reject(new Error(`avatar upload: HTTP ${statusCode}`));
        else resolve(JSON.parse(data).url);
      },
      fail: reject,
    });
  });
}

Page({
  data: { avatarUrl: '', nickname: '', error: '', saving: false },

  /** What the server has: empty until the person sets it (WeChat's own profile is anonymous). */
  onLoad() {
    const { user } = getApp().globalData.session;
    this.setData({ nickname: user.nickname || '', avatarUrl: user.avatarUrl || '' });
  },

  /** The chosen picture, still a local file: shown at once, uploaded on save. */
  onChooseAvatar(event) {
    this.chosenAvatar = event.detail.avatarUrl;
    this.setData({ avatarUrl: event.detail.avatarUrl, error: '' });
  },

  onSubmit(event) {
    // Where your app keeps the session login() answered.
    const { accessToken } = getApp().globalData.session;
    const nickname = (event.detail.value.nickname || '').trim();
    if (!nickname && !this.chosenAvatar) {
      this.setData({ error: '请选择头像或填写昵称' });
      return;
    }
    this.setData({ saving: true, error: '' });
    const avatarUrl = this.chosenAvatar
      ? uploadAvatar(this.chosenAvatar, accessToken)
      : Promise.resolve(null);
    avatarUrl
      .then((url) => {
        // A field left out stays as it is on the server.
        const input = Object.assign({}, nickname ? { nickname } : {}, url ? { avatarUrl: url } : {});
        return graphql(UPDATE_PROFILE, { input }, accessToken);
      })
      .then(({ updateProfile }) => {
        this.chosenAvatar = null;
        this.setData({ nickname: updateProfile.nickname || '', avatarUrl: updateProfile.avatarUrl || '' });
      })
      .catch((error) => {
        const { code, field } = (error && error.extensions) || {};
        // BAD_USER_INPUT names the field ("微信用户" is refused, 64 characters at most); UNAUTHENTICATED:
        // the session has ended, log in again (login.js) or refreshSession.
        this.setData({
          error:
            code === 'BAD_USER_INPUT' && field === 'nickname'
              ? '这个昵称不能用，请换一个'
              : code === 'UNAUTHENTICATED'
                ? '登录已过期，请重新登录'
                : '保存失败，请重试',
        });
      })
      .then(() => this.setData({ saving: false }));
  },
});
