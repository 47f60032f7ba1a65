import { describe, expect, it } from '@jest/globals';
import {
  openPush,
  passiveReply,
  PushMalformed,
  PushRefused,
  type PushReceiver,
} from '../src/official-account/push-message.js';
import { aesKeyOf, encryptPush, pushSignature } from '../src/wechat/message-crypto.js';
import { replyContent } from './support/pushes.js';

/**
 * WeChat's published sample for message encryption (Token "pamtest", its EncodingAESKey and
 * appid, nonce "xxxxxx", and the Encrypt of its sample message; the same values
 * test/message-crypto.test.ts checks the cipher with), read as a whole push signed a minute after
 * the message's CreateTime (the sample's own timestamp is 18 days later: we refuse that).
 */
const SAMPLE: PushReceiver = {
  appId: 'wxb11529c136998cb6',
  token: 'pamtest',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};
const TIMESTAMP = '1407743483';
const NONCE = 'xxxxxx';
const ENCRYPTED =
  'jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb';
const NOW = Number(TIMESTAMP);

const safeQuery = (encrypted: string, timestamp = TIMESTAMP) => ({
  signature: pushSignature(SAMPLE.token, timestamp, NONCE),
  timestamp,
  nonce: NONCE,
  encrypt_type: 'aes',
  msg_signature: pushSignature(SAMPLE.token, timestamp, NONCE, encrypted),
});
const envelope = (encrypted: string) =>
  `<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>`;

describe('Official Account push messages', () => {
  it('opens WeChat’s safe-mode sample: its msg_signature, its cipher and the appid inside', () => {
    const message = openPush(SAMPLE, safeQuery(ENCRYPTED), envelope(ENCRYPTED), NOW);
    expect(message).toEqual({
      toUserName: 'oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw',
      fromUserName: 'gh_7f083739789a',
      createTime: '1407743423',
      msgType: 'video',
      event: null,
      eventKey: null,
      encrypted: true,
    });
    // A message claiming another time than its push's is not read.
    const late = String(Number(TIMESTAMP) + 301);
    expect(() => openPush(SAMPLE, safeQuery(ENCRYPTED, late), envelope(ENCRYPTED), NOW + 301)).toThrow(
      PushMalformed,
    );
    // Five minutes either way, not more.
    expect(() => openPush(SAMPLE, safeQuery(ENCRYPTED), envelope(ENCRYPTED), NOW + 301)).toThrow(PushRefused);
    expect(() => openPush(SAMPLE, safeQuery(ENCRYPTED), envelope(ENCRYPTED), NOW - 301)).toThrow(PushRefused);
    // Another account's key or appid, a changed ciphertext: refused.
    expect(() =>
      openPush({ ...SAMPLE, appId: 'wxother' }, safeQuery(ENCRYPTED), envelope(ENCRYPTED), NOW),
    ).toThrow(PushRefused);
    const tampered = `${ENCRYPTED.slice(0, 10)}A${ENCRYPTED.slice(11)}`;
    expect(() => openPush(SAMPLE, safeQuery(ENCRYPTED), envelope(tampered), NOW)).toThrow(PushRefused);
  });

  it('reads compatible mode’s encrypted copy and ignores its plain fields', () => {
    const compatible =
      `<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oForged]]></FromUserName>` +
      `<CreateTime>1407743423</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>` +
      `<Encrypt><![CDATA[${ENCRYPTED}]]></Encrypt></xml>`;
    const message = openPush(SAMPLE, safeQuery(ENCRYPTED), compatible, NOW);
    expect(message).toMatchObject({ fromUserName: 'gh_7f083739789a', msgType: 'video', event: null });
  });

  it('answers an encrypted message with an encrypted, signed reply, and a plain one in plain', () => {
    const message = openPush(SAMPLE, safeQuery(ENCRYPTED), envelope(ENCRYPTED), NOW);
    const reply = passiveReply(SAMPLE, message, '登录成功 <b>', NOW);
    expect(reply).not.toContain('登录成功');
    const account = { appid: SAMPLE.appId, token: SAMPLE.token, aesKey: SAMPLE.aesKey };
    expect(replyContent(account, reply)).toBe('登录成功 <b>');
    // A `]]>` in the configured text cannot end the CDATA early.
    const plain = passiveReply(SAMPLE, { ...message, encrypted: false }, 'a]]>b', NOW);
    expect(plain).toContain('<ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>');
    expect(plain).toContain('<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>');
  });

  it('reads only flat XML: no entities, no DOCTYPE, no deep nesting, no missing fields', () => {
    const receiver = { appId: 'wxplain', token: 'plainToken' };
    const query = {
      signature: pushSignature('plainToken', TIMESTAMP, NONCE),
      timestamp: TIMESTAMP,
      nonce: NONCE,
    };
    const fields = (extra = '', from = 'oOpenid_1') =>
      `<xml><ToUserName>gh_1</ToUserName><FromUserName>${from}</FromUserName><CreateTime>${TIMESTAMP}</CreateTime>` +
      `<MsgType>event</MsgType><Event>SCAN</Event><EventKey>a&amp;b</EventKey>${extra}</xml>`;
    // Entities stay as written.
    expect(openPush(receiver, query, fields(), NOW).eventKey).toBe('a&amp;b');
    expect(() => openPush(receiver, query, `<!DOCTYPE x [<!ENTITY e "e">]>${fields()}`, NOW)).toThrow(
      PushMalformed,
    );
    expect(() => openPush(receiver, query, fields('<A><B><C><D>x</D></C></B></A>'), NOW)).toThrow(
      PushMalformed,
    );
    expect(() => openPush(receiver, query, fields('', 'not an openid'), NOW)).toThrow(PushMalformed);
    expect(() => openPush(receiver, query, '<xml><MsgType>event</MsgType></xml>', NOW)).toThrow(
      PushMalformed,
    );
    expect(() => openPush(receiver, query, 'not xml at all', NOW)).toThrow(PushMalformed);
    // An encrypted push to an account without a key; a bad signature.
    const encrypted = encryptPush(aesKeyOf(SAMPLE.aesKey!), fields(), 'wxplain');
    expect(() => openPush(receiver, { ...query, encrypt_type: 'aes' }, envelope(encrypted), NOW)).toThrow(
      PushRefused,
    );
    expect(() => openPush(receiver, { ...query, signature: 'a'.repeat(40) }, fields(), NOW)).toThrow(
      PushRefused,
    );
  });

  it('reads a 64 KiB message of repeated fields, ignoring them', () => {
    const receiver = { appId: 'wxplain', token: 'plainToken' };
    const query = {
      signature: pushSignature('plainToken', TIMESTAMP, NONCE),
      timestamp: TIMESTAMP,
      nonce: NONCE,
    };
    const many = `<xml>${'<P>x</P>'.repeat(8000)}<ToUserName>g</ToUserName><FromUserName>o</FromUserName><CreateTime>${TIMESTAMP}</CreateTime><MsgType>text</MsgType></xml>`;
    // Repeated fields are ignored, not an error, and 64 KiB of them is read at once.
    expect(openPush(receiver, query, many, NOW).msgType).toBe('text');
  });
});
