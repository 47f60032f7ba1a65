import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  decodeBase64,
  decryptUserData,
  encryptUserData,
  rawDataSignature,
  verifyRawDataSignature,
} from '../src/wechat/open-data.crypto.js';
import { loadConfig } from '../src/config.js';
import { SecretBox } from '../src/crypto/secret-box.js';
import { InvalidStateError, WebStateService } from '../src/logins/web-state.service.js';

const key = randomBytes(16).toString('base64');
const iv = randomBytes(16);

function encryptRaw(plain: Buffer): string {
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'base64'), iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

describe('open-data crypto', () => {
  it('round-trips a profile and checks the watermark appid', () => {
    const data = { openId: 'o1', nickName: '小明', watermark: { appid: 'wxA', timestamp: 1 } };
    const sealed = encryptUserData(key, data, iv);
    expect(decryptUserData(key, sealed, iv.toString('base64'), 'wxA')).toEqual(data);
    expect(() => decryptUserData(key, sealed, iv.toString('base64'), 'wxB')).toThrow('watermark appid');
  });

  it('rejects bad PKCS#7 padding strictly (every pad byte, 1..16)', () => {
    const json = Buffer.from(JSON.stringify({ watermark: { appid: 'wxA' } }));
    const padLen = 16 - (json.length % 16);
    expect(padLen).toBeGreaterThan(1);
    const pad = Buffer.alloc(padLen, padLen);
    pad[0] = padLen + 1; // one wrong pad byte: lenient decoders (WeChat's own samples) accept this
    const wrong = Buffer.concat([json, pad]);
    expect(() => decryptUserData(key, encryptRaw(wrong), iv.toString('base64'), 'wxA')).toThrow(
      'bad padding',
    );
    const zero = Buffer.concat([json, Buffer.alloc(padLen, 0)]);
    expect(() => decryptUserData(key, encryptRaw(zero), iv.toString('base64'), 'wxA')).toThrow('bad padding');
  });

  it('validates base64 and lengths before decrypting', () => {
    expect(decodeBase64('AAAA')).toEqual(Buffer.from([0, 0, 0]));
    expect(decodeBase64('AAA')).toBeNull();
    expect(decodeBase64('AA-_')).toBeNull();
    expect(decodeBase64('AAAAAAAAAAAAAAAAAAAAAA==', 16)).toHaveLength(16);
    expect(() => decryptUserData(key, 'AAAA', 'AAAA', 'wxA')).toThrow('iv');
    expect(() => decryptUserData('short', 'AAAA', iv.toString('base64'), 'wxA')).toThrow('session key');
    expect(() => decryptUserData(key, 'AAAA', iv.toString('base64'), 'wxA')).toThrow('AES blocks');
  });

  it('signs rawData as sha1(rawData + session_key) and compares in constant time', () => {
    const raw = '{"nickName":"Band","gender":1}';
    const signature = rawDataSignature(raw, 'HyVFkGl5F5OQWJZZaNzBBg==');
    expect(signature).toBe(
      createHash('sha1')
        .update(raw + 'HyVFkGl5F5OQWJZZaNzBBg==')
        .digest('hex'),
    );
    expect(verifyRawDataSignature(raw, signature, 'HyVFkGl5F5OQWJZZaNzBBg==')).toBe(true);
    expect(verifyRawDataSignature(raw, signature.toUpperCase(), 'HyVFkGl5F5OQWJZZaNzBBg==')).toBe(true);
    expect(verifyRawDataSignature(raw + ' ', signature, 'HyVFkGl5F5OQWJZZaNzBBg==')).toBe(false);
    expect(verifyRawDataSignature(raw, 'abc', 'HyVFkGl5F5OQWJZZaNzBBg==')).toBe(false);
  });
});

describe('an AUTH_SECRET change with the old one in AUTH_SECRET_PREVIOUS', () => {
  const OLD = 'o'.repeat(32);
  const NEW = 'n'.repeat(32);
  const app = loadConfig({
    WECHAT_WEB_APPID: 'wxweb',
    WECHAT_WEB_SECRET: 's',
    WECHAT_WEB_REDIRECT_URIS: 'https://app.example/cb',
  }).wechat.apps[0]!;

  it('opens what the old secret sealed, seals only with the new one, and opens nothing else', () => {
    const sealedOld = new SecretBox(OLD).seal('session-key');
    const box = new SecretBox(NEW, [OLD]);
    expect(box.openWith(sealedOld)).toEqual({ plain: 'session-key', secret: 1 });
    const sealedNew = box.seal('access-token');
    expect(box.openWith(sealedNew)).toEqual({ plain: 'access-token', secret: 0 });
    expect(new SecretBox(NEW).open(sealedNew)).toBe('access-token');
    expect(() => new SecretBox(OLD).open(sealedNew)).toThrow();
    expect(() => new SecretBox(NEW).open(sealedOld)).toThrow();
    const tampered = `${sealedOld.slice(0, -2)}${sealedOld.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(() => box.open(tampered)).toThrow('sealed with another secret, or tampered with');
  });

  it('accepts a web login state the old secret signed, and signs new ones with the new secret', () => {
    const settings = { ttlSeconds: 600 };
    const issuedOld = new WebStateService({ ...settings, authSecret: OLD }).issue(
      app,
      'https://app.example/cb',
    );
    const both = new WebStateService({ ...settings, authSecret: NEW, authSecretPrevious: [OLD] });
    expect(both.verify(issuedOld, { app }).nonce).toMatch(/^[0-9a-f]{32}$/);
    const issuedNew = both.issue(app, 'https://app.example/cb');
    expect(() =>
      new WebStateService({ ...settings, authSecret: NEW }).verify(issuedNew, { app }),
    ).not.toThrow();
    expect(() => new WebStateService({ ...settings, authSecret: OLD }).verify(issuedNew, { app })).toThrow(
      InvalidStateError,
    );
    expect(() => new WebStateService({ ...settings, authSecret: NEW }).verify(issuedOld, { app })).toThrow(
      InvalidStateError,
    );
  });
});
