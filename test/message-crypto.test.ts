import { describe, expect, it } from '@jest/globals';
import {
  aesKeyOf,
  decryptPush,
  encryptPush,
  pushSignature,
  signatureMatches,
} from '../src/wechat/message-crypto.js';

/**
 * WeChat's own sample values for its message push crypto (the sample code WeChat publishes with
 * "消息加解密": Token "pamtest", its EncodingAESKey and appid, the random prefix
 * "aaaabbbbccccdddd" and the Encrypt each message gives), and WeCom's URL-check sample (its
 * Token, EncodingAESKey, corpid, msg_signature and echostr).
 */
const SAMPLE = {
  token: 'pamtest',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  appId: 'wxb11529c136998cb6',
  timestamp: '1409304348',
  nonce: 'xxxxxx',
  random: Buffer.from('aaaabbbbccccdddd'),
  short: {
    message: '我是中文abcd123',
    encrypted: 'jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==',
  },
  xml: {
    message:
      '<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>',
    encrypted:
      'jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb',
  },
};

const WECOM_URL_CHECK = {
  token: 'QDG6eK',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  corpId: 'wx5823bf96d3bd56c7',
  msgSignature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  timestamp: '1409659589',
  nonce: '263014780',
  echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
};

describe('message push crypto', () => {
  const key = aesKeyOf(SAMPLE.encodingAesKey);

  it('encrypts WeChat’s samples to the Encrypt its sample code gives, and back', () => {
    for (const { message, encrypted } of [SAMPLE.short, SAMPLE.xml]) {
      expect(encryptPush(key, message, SAMPLE.appId, SAMPLE.random)).toBe(encrypted);
      expect(decryptPush(key, encrypted, SAMPLE.appId)).toBe(message);
    }
  });

  it('checks WeCom’s URL-check sample: its msg_signature, and the echostr inside for its corpid', () => {
    const { token, timestamp, nonce, echostr, msgSignature } = WECOM_URL_CHECK;
    expect(signatureMatches(msgSignature, pushSignature(token, timestamp, nonce, echostr))).toBe(true);
    expect(decryptPush(aesKeyOf(WECOM_URL_CHECK.encodingAesKey), echostr, WECOM_URL_CHECK.corpId)).toBe(
      '1616140317555161061',
    );
  });

  it('signs the sorted parts, and compares signatures whole', () => {
    const signature = pushSignature(SAMPLE.token, SAMPLE.timestamp, SAMPLE.nonce);
    expect(signature).toMatch(/^[0-9a-f]{40}$/);
    expect(pushSignature(SAMPLE.nonce, SAMPLE.token, SAMPLE.timestamp)).toBe(signature);
    expect(signatureMatches(signature, signature)).toBe(true);
    expect(signatureMatches(signature.toUpperCase(), signature)).toBe(false);
    expect(signatureMatches(signature.slice(0, 39), signature)).toBe(false);
    expect(signatureMatches('', signature)).toBe(false);
  });

  it('refuses a message for another receiver, tampered, cut or not base64', () => {
    const { encrypted } = SAMPLE.xml;
    expect(() => decryptPush(key, encrypted, 'wxanotherapp0000')).toThrow('for another receiver');
    const bytes = Buffer.from(encrypted, 'base64');
    bytes[bytes.length - 1] = bytes.at(-1)! ^ 0x01;
    expect(() => decryptPush(key, bytes.toString('base64'), SAMPLE.appId)).toThrow();
    expect(() =>
      decryptPush(key, Buffer.from(encrypted, 'base64').subarray(0, 48).toString('base64'), SAMPLE.appId),
    ).toThrow('not whole blocks');
    expect(() => decryptPush(key, '%%%', SAMPLE.appId)).toThrow('not whole blocks');
    expect(() => decryptPush(key, '', SAMPLE.appId)).toThrow('not whole blocks');
    expect(() => decryptPush(aesKeyOf('A'.repeat(43)), encrypted, SAMPLE.appId)).toThrow();
  });

  it('takes only a 43-character EncodingAESKey', () => {
    expect(aesKeyOf(SAMPLE.encodingAesKey)).toHaveLength(32);
    for (const bad of ['', 'abc', `${SAMPLE.encodingAesKey}=`, SAMPLE.encodingAesKey.replace('a', '-')]) {
      expect(() => aesKeyOf(bad)).toThrow('EncodingAESKey');
    }
  });
});
