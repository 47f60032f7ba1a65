import { describe, expect, it } from '@jest/globals';
import { captureLog } from './support/logger.js';

describe('the logger', () => {
  it('censors secret fields wherever they appear, as a net under "never log secrets"', () => {
    const log = captureLog('trace');
    log.logger.info(
      {
        req: {
          method: 'GET',
          url: '/sns/jscode2session?secret=s3cr3t&js_code=c0de',
          headers: { authorization: 'Bearer jwt' },
        },
        wechat: {
          secret: 's3cr3t',
          session_key: 'k3y',
          access_token: 'wx-t0ken',
          refresh_token: 'wx-r3fresh',
        },
        session: {
          refreshToken: 'rt_ours',
          accessToken: 'eyJ.ours',
          sessionKey: 'k3y2',
          authSecret: 'auth-s3cret',
        },
        input: { code: 'c0de2', encryptedData: 'ENC', phoneCode: 'ph0necode' },
        user: { phoneNumber: '+8613800138000' },
        body: { phone_info: { purePhoneNumber: '13911112222' } },
      },
      'a line with everything in it',
    );
    const text = log.text();
    for (const secret of [
      's3cr3t',
      'c0de',
      'k3y',
      'wx-t0ken',
      'wx-r3fresh',
      'rt_ours',
      'eyJ.ours',
      'auth-s3cret',
      'ENC',
      'Bearer jwt',
      'ph0necode',
      '13800138000',
      '13911112222',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('"path":"/sns/jscode2session"');
    expect(text).toContain('[redacted]');
  });
});

describe('the logger, for errors', () => {
  it('keeps error codes readable', () => {
    const log = captureLog('trace');
    log.logger.error({ err: Object.assign(new Error('duplicate key'), { code: '23505' }) }, 'failed');
    expect(log.text()).toContain('"code":"23505"');
  });
});
