import { randomBytes } from 'node:crypto';
import { aesKeyOf, decryptPush, encryptPush, pushSignature } from '../../src/wechat/message-crypto.js';

/** An Official Account as WeChat pushes to it: its appid, Token and (safe mode) EncodingAESKey. */
export interface PushAccount {
  appid: string;
  token: string;
  aesKey?: string;
  /** The account's original id (gh_…), ToUserName of its pushes. */
  originalId?: string;
}

export interface PushEvent {
  openid: string;
  event: string;
  eventKey?: string;
  /** Epoch seconds; default now. */
  createTime?: number;
}

export interface SignedPush {
  query: Record<string, string>;
  body: string;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** An event's XML as WeChat writes it. */
export function eventXml(account: PushAccount, e: PushEvent): string {
  return (
    `<xml><ToUserName><![CDATA[${account.originalId ?? 'gh_0123456789ab'}]]></ToUserName>` +
    `<FromUserName><![CDATA[${e.openid}]]></FromUserName><CreateTime>${e.createTime ?? nowSeconds()}</CreateTime>` +
    `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[${e.event}]]></Event>` +
    `<EventKey><![CDATA[${e.eventKey ?? ''}]]></EventKey></xml>`
  );
}

/**
 * A push of `xml` signed as WeChat signs it (at `timestamp`, default now): plain mode, or safe
 * mode (encrypted for `receiver`, default the account's appid) when the account has an aesKey.
 */
export function signPush(
  account: PushAccount,
  xml: string,
  options: { timestamp?: number; receiver?: string } = {},
): SignedPush {
  const timestamp = String(options.timestamp ?? nowSeconds());
  const nonce = String(randomBytes(4).readUInt32BE());
  const signature = pushSignature(account.token, timestamp, nonce);
  if (!account.aesKey) return { query: { signature, timestamp, nonce }, body: xml };
  const encrypted = encryptPush(aesKeyOf(account.aesKey), xml, options.receiver ?? account.appid);
  return {
    query: {
      signature,
      timestamp,
      nonce,
      encrypt_type: 'aes',
      msg_signature: pushSignature(account.token, timestamp, nonce, encrypted),
    },
    body: `<xml><ToUserName><![CDATA[${account.originalId ?? 'gh_0123456789ab'}]]></ToUserName><Encrypt><![CDATA[${encrypted}]]></Encrypt></xml>`,
  };
}

/** POSTs a push to the server's /wechat/events/:appid as WeChat does. */
export async function sendPush(
  serverUrl: string,
  account: PushAccount,
  push: SignedPush,
): Promise<{ status: number; text: string }> {
  const url = `${serverUrl}/wechat/events/${account.appid}?${new URLSearchParams(push.query)}`;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'text/xml' },
    body: push.body,
  });
  return { status: response.status, text: await response.text() };
}

/** The Content of a passive reply (decrypted and its signature checked in safe mode), or null. */
export function replyContent(account: PushAccount, text: string): string | null {
  if (text === 'success' || text === '') return null;
  let xml = text;
  const encrypted = /<Encrypt><!\[CDATA\[([^\]]+)\]\]><\/Encrypt>/.exec(text)?.[1];
  if (encrypted) {
    const signature = /<MsgSignature><!\[CDATA\[([0-9a-f]+)\]\]>/.exec(text)?.[1];
    const timestamp = /<TimeStamp>(\d+)<\/TimeStamp>/.exec(text)?.[1];
    const nonce = /<Nonce><!\[CDATA\[([^\]]+)\]\]>/.exec(text)?.[1];
    if (signature !== pushSignature(account.token, timestamp!, nonce!, encrypted)) {
      throw new Error('the reply’s MsgSignature does not match');
    }
    xml = decryptPush(aesKeyOf(account.aesKey!), encrypted, account.appid);
  }
  return /<Content><!\[CDATA\[([^\]]*)\]\]><\/Content>/.exec(xml)?.[1] ?? null;
}
