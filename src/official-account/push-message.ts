import { randomBytes } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import type { ConfiguredApp } from '../config.js';
import { DecryptError } from '../wechat/open-data.crypto.js';
import {
  aesKeyOf,
  decryptPush,
  encryptPush,
  pushSignature,
  signatureMatches,
} from '../wechat/message-crypto.js';

/**
 * What WeChat pushes to an Official Account's server URL (服务器配置) and what we answer, as pure
 * functions: the URL check, a message's signature, age and (safe mode) encryption, its XML, and
 * the passive reply in the message's own mode.
 * https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
 */

/** The query WeChat adds to each push (and to the URL check). */
export interface PushQuery {
  signature?: string;
  timestamp?: string;
  nonce?: string;
  echostr?: string;
  encrypt_type?: string;
  msg_signature?: string;
}

/** An Official Account that receives pushes: its appid, Token and, for safe mode, EncodingAESKey. */
export type PushReceiver = Pick<ConfiguredApp, 'appId'> & { token: string; aesKey?: string };

/** One pushed message once it has passed every check. */
export interface PushedMessage {
  /** The account's original id (gh_…): the sender of our reply. */
  toUserName: string;
  /** The person's openid in this account. */
  fromUserName: string;
  /** Epoch seconds, as WeChat wrote it: with fromUserName, what names an event across retries. */
  createTime: string;
  msgType: string;
  /** For MsgType event: subscribe, unsubscribe, SCAN, … */
  event: string | null;
  eventKey: string | null;
  /** Came encrypted (safe or compatible mode): the reply is encrypted too. */
  encrypted: boolean;
}

/** A push that fails its signature or its age, or names no way we can read it: 401, nothing done. */
export class PushRefused extends Error {
  override name = 'PushRefused';
}

/** A signed push whose body is not a message we can read: 400, nothing done. */
export class PushMalformed extends Error {
  override name = 'PushMalformed';
}

/** WeChat signs each push with its time; older (or further ahead) than this, it is refused. */
export const MAX_PUSH_AGE_SECONDS = 5 * 60;
/** Our bound on a nonce (WeChat's are ten digits or so). */
const MAX_NONCE_LENGTH = 64;
const EPOCH_SECONDS = /^\d{1,12}$/;
/** openids: letters, digits, - and _. */
const WECHAT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SIGNATURE = /^[0-9a-f]{40}$/;
/** Safe mode's ciphertext in its envelope (base64, in CDATA or not): linear, no backtracking across it. */
const ENCRYPT = /<Encrypt>(?:<!\[CDATA\[)?([A-Za-z0-9+/=]{1,65536})(?:\]\]>)?<\/Encrypt>/;

/**
 * Flat XML of a few fields. No entity of any kind is expanded (a DOCTYPE is refused before the
 * parser sees it); values stay strings; nesting deeper than a message's is refused.
 */
const parser = new XMLParser({
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: true,
  maxNestedTags: 3,
});

/**
 * The URL check WeChat makes when the console's server configuration is saved: `echostr`, when
 * the signature over the Token, timestamp and nonce matches and the timestamp is fresh.
 */
export function urlCheck(receiver: PushReceiver, query: PushQuery, nowSeconds: number): string {
  const { timestamp, nonce } = signedTime(query, nowSeconds);
  if (!query.echostr || query.echostr.length > 256) throw new PushRefused('no echostr');
  checkSignature(query.signature, pushSignature(receiver.token, timestamp, nonce), 'signature');
  return query.echostr;
}

/**
 * The message of a push, once its signature and age pass. An account with an EncodingAESKey takes
 * encrypted messages only (safe mode; compatible mode's plain copy is ignored): `msg_signature`
 * covers the ciphertext, and the appid inside must be this account's. Without one, plain mode:
 * `signature` covers the Token, timestamp and nonce, not the body (WeChat's design; docs/security.md).
 */
export function openPush(
  receiver: PushReceiver,
  query: PushQuery,
  body: string,
  nowSeconds: number,
): PushedMessage {
  const { timestamp, nonce } = signedTime(query, nowSeconds);
  const encrypted = query.encrypt_type === 'aes';
  if (!receiver.aesKey) {
    if (encrypted) throw new PushRefused('an encrypted message, and this account has no EncodingAESKey set');
    checkSignature(query.signature, pushSignature(receiver.token, timestamp, nonce), 'signature');
    return messageOf(fieldsOf(body), false, timestamp);
  }
  if (!encrypted) throw new PushRefused('an unencrypted message to an account in safe mode');
  // Nothing unsigned is parsed: the ciphertext is found by one anchored pattern, then checked.
  const ciphertext = ENCRYPT.exec(body)?.[1];
  if (!ciphertext) throw new PushMalformed('no Encrypt');
  checkSignature(
    query.msg_signature,
    pushSignature(receiver.token, timestamp, nonce, ciphertext),
    'msg_signature',
  );
  let inner: string;
  try {
    inner = decryptPush(aesKeyOf(receiver.aesKey), ciphertext, receiver.appId);
  } catch (error) {
    if (error instanceof DecryptError) throw new PushRefused(`Encrypt does not open: ${error.message}`);
    throw error;
  }
  return messageOf(fieldsOf(inner), true, timestamp);
}

/**
 * A passive reply to `message`: a text message to the person, in the message's mode (encrypted
 * and signed for an encrypted one). WeChat shows `content` in the chat with the account.
 */
export function passiveReply(
  receiver: PushReceiver,
  message: PushedMessage,
  content: string,
  nowSeconds: number,
): string {
  const reply =
    `<xml><ToUserName>${cdata(message.fromUserName)}</ToUserName>` +
    `<FromUserName>${cdata(message.toUserName)}</FromUserName>` +
    `<CreateTime>${nowSeconds}</CreateTime><MsgType>${cdata('text')}</MsgType>` +
    `<Content>${cdata(content)}</Content></xml>`;
  if (!message.encrypted || !receiver.aesKey) return reply;
  const encrypted = encryptPush(aesKeyOf(receiver.aesKey), reply, receiver.appId);
  const timestamp = String(nowSeconds);
  const nonce = String(randomBytes(4).readUInt32BE());
  const signature = pushSignature(receiver.token, timestamp, nonce, encrypted);
  return (
    `<xml><Encrypt>${cdata(encrypted)}</Encrypt><MsgSignature>${cdata(signature)}</MsgSignature>` +
    `<TimeStamp>${timestamp}</TimeStamp><Nonce>${cdata(nonce)}</Nonce></xml>`
  );
}

/** The push's timestamp and nonce, when present and the timestamp within MAX_PUSH_AGE_SECONDS of now. */
function signedTime(query: PushQuery, nowSeconds: number): { timestamp: string; nonce: string } {
  const { timestamp, nonce } = query;
  if (!timestamp || !EPOCH_SECONDS.test(timestamp)) throw new PushRefused('no timestamp');
  if (!nonce || nonce.length > MAX_NONCE_LENGTH) throw new PushRefused('no nonce');
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_PUSH_AGE_SECONDS) {
    throw new PushRefused('timestamp more than 5 minutes from now');
  }
  return { timestamp, nonce };
}

function checkSignature(presented: string | undefined, expected: string, name: string): void {
  if (!presented || !SIGNATURE.test(presented) || !signatureMatches(presented, expected)) {
    throw new PushRefused(`${name} does not match`);
  }
}

/** The text fields of `<xml>…</xml>`; PushMalformed for anything else. */
function fieldsOf(xml: string): Record<string, string> {
  // No DOCTYPE: nothing a message needs, and the door to entity tricks.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new PushMalformed('a DOCTYPE');
  let parsed: unknown;
  try {
    parsed = parser.parse(xml);
  } catch {
    throw new PushMalformed('not XML');
  }
  const root = (parsed as { xml?: unknown } | null)?.xml;
  if (!root || typeof root !== 'object' || Array.isArray(root)) throw new PushMalformed('no <xml> element');
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(root)) {
    // A repeated or nested field is not one WeChat sends: ignored, as unknown fields are.
    if (typeof value === 'string') fields[name] = value;
  }
  return fields;
}

/**
 * The message's fields, checked. Its CreateTime (what, with the openid, names it across retries,
 * and when a follow or unfollow happened) must be within MAX_PUSH_AGE_SECONDS of the signed
 * timestamp: a message cannot claim another time than its push.
 */
function messageOf(fields: Record<string, string>, encrypted: boolean, timestamp: string): PushedMessage {
  const { ToUserName, FromUserName, CreateTime, MsgType } = fields;
  // ToUserName only goes back in our reply (as CDATA): any short text.
  if (!ToUserName || ToUserName.length > 128) throw new PushMalformed('ToUserName');
  if (!FromUserName || !WECHAT_ID.test(FromUserName)) throw new PushMalformed('FromUserName');
  if (!CreateTime || !EPOCH_SECONDS.test(CreateTime)) throw new PushMalformed('CreateTime');
  if (Math.abs(Number(CreateTime) - Number(timestamp)) > MAX_PUSH_AGE_SECONDS) {
    throw new PushMalformed('CreateTime more than 5 minutes from the push');
  }
  if (!MsgType) throw new PushMalformed('MsgType');
  return {
    toUserName: ToUserName,
    fromUserName: FromUserName,
    createTime: CreateTime,
    msgType: MsgType,
    event: fields.Event ?? null,
    eventKey: fields.EventKey ?? null,
    encrypted,
  };
}

/** `text` as CDATA; a `]]>` inside is split across two sections. */
function cdata(text: string): string {
  return `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}
