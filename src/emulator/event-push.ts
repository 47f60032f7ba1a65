import { createHash, randomInt } from 'node:crypto';
import {
  aesKeyOf,
  decryptPush,
  encryptPush,
  pushSignature,
  signatureMatches,
} from '../wechat/message-crypto.js';
import type { EmulatorApp } from './apps.js';

/** WeChat waits this long for the server's answer to a push before it tries again. */
export const DEFAULT_PUSH_TIMEOUT_MS = 5000;
/** WeChat tries a push three times in all when the server does not answer. */
const PUSH_ATTEMPTS = 3;
/** How many pushes GET /__emulator/pushes remembers. */
const MAX_PUSHES = 200;

export type PushEvent = 'subscribe' | 'SCAN' | 'unsubscribe';

/** What an account's event is about: who, and through which QR code (a scene and its ticket), if any. */
export interface EventParams {
  app: EmulatorApp;
  openid: string;
  userKey: string;
  event: PushEvent;
  /** `qrscene_<scene>` for a follow through a QR code, `<scene>` for a scan by a follower, else ''. */
  eventKey: string;
  ticket?: string;
}

/** How a push went, as the control API answers it. */
export interface PushResult {
  /** The server answered 2xx. */
  delivered: boolean;
  /** POSTs made: 0 for an account without a Token (no server configuration: WeChat pushes nothing). */
  attempts: number;
  /** The HTTP status of the answer; null without one. */
  status: number | null;
  /** The text of the server's passive reply; null for none (`success` or an empty body). */
  reply: string | null;
  /** Why the reply could not be shown (a bad signature, not decryptable, not for this person…). */
  replyError?: string;
}

/** A push as GET /__emulator/pushes lists it. */
export interface PushRecord extends PushResult {
  appid: string;
  openid: string;
  user: string;
  event: PushEvent;
  eventKey: string;
  mode: 'plain' | 'safe';
  at: string;
}

/** The `gh_` original id WeChat shows as an account's ToUserName: stable, derived from its appid. */
export function originalIdOf(appid: string): string {
  return `gh_${createHash('sha256').update(appid).digest('hex').slice(0, 12)}`;
}

/** A CDATA section of `text`, which may itself hold `]]>`. */
function cdata(text: string): string {
  return `<![CDATA[${text.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/**
 * The fields of a flat WeChat message (`<xml><Name>value</Name>…</xml>`, values plain or in CDATA),
 * or null when the text is not one. Enough for the messages pushed and replied here; not a general XML reader.
 */
export function xmlFields(xml: string): Record<string, string> | null {
  const inner = /^\s*<xml>([\s\S]*)<\/xml>\s*$/.exec(xml)?.[1];
  if (inner === undefined) return null;
  const fields: Record<string, string> = {};
  const field = /<([A-Za-z]+)>((?:<!\[CDATA\[[\s\S]*?\]\]>)+|[^<]*)<\/\1>/g;
  for (const [, name, value] of inner.matchAll(field)) {
    fields[name!] = value!.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1');
  }
  return fields;
}

/** The plain XML of an event, as WeChat pushes it. */
function eventXml(p: EventParams, createTime: number): string {
  return (
    `<xml><ToUserName>${cdata(originalIdOf(p.app.appid))}</ToUserName>` +
    `<FromUserName>${cdata(p.openid)}</FromUserName><CreateTime>${createTime}</CreateTime>` +
    `<MsgType>${cdata('event')}</MsgType><Event>${cdata(p.event)}</Event>` +
    `<EventKey>${cdata(p.eventKey)}</EventKey>` +
    `${p.ticket === undefined ? '' : `<Ticket>${cdata(p.ticket)}</Ticket>`}</xml>`
  );
}

/** An account WeChat pushes to: one with a Token. */
type PushingApp = EmulatorApp & { token: string };

/** A push's query and body: signed, and in safe mode encrypted and signed again over the ciphertext. */
function signedMessage(app: PushingApp, openid: string, plain: string, timestamp: string) {
  const nonce = String(randomInt(1e9, 1e10));
  const query = new URLSearchParams({
    signature: pushSignature(app.token, timestamp, nonce),
    timestamp,
    nonce,
    openid,
  });
  if (app.aesKey === undefined) return { query, body: plain };
  const encrypted = encryptPush(aesKeyOf(app.aesKey), plain, app.appid);
  query.set('encrypt_type', 'aes');
  query.set('msg_signature', pushSignature(app.token, timestamp, nonce, encrypted));
  const body = `<xml><ToUserName>${cdata(originalIdOf(app.appid))}</ToUserName><Encrypt>${cdata(encrypted)}</Encrypt></xml>`;
  return { query, body };
}

/**
 * The message inside a safe-mode reply, once its MsgSignature (over its own TimeStamp, Nonce and
 * Encrypt) and its decryption for this appid check out; else why not.
 */
function openSafeReply(app: PushingApp & { aesKey: string }, fields: Record<string, string>) {
  const { Encrypt: encrypted, MsgSignature: signature, TimeStamp: timestamp, Nonce: nonce } = fields;
  if (encrypted === undefined || signature === undefined || timestamp === undefined || nonce === undefined) {
    return 'safe mode: the reply lacks Encrypt, MsgSignature, TimeStamp or Nonce';
  }
  if (!signatureMatches(signature, pushSignature(app.token, timestamp, nonce, encrypted))) {
    return 'safe mode: the reply’s MsgSignature does not match';
  }
  try {
    return (
      xmlFields(decryptPush(aesKeyOf(app.aesKey), encrypted, app.appid)) ??
      'safe mode: the decrypted reply is not XML'
    );
  } catch (error) {
    return `safe mode: the reply does not decrypt (${(error as Error).message})`;
  }
}

/**
 * The text of a passive reply, checked as WeChat checks it (in safe mode, openSafeReply): a text
 * message to this person from this account. `success` or an empty body: no reply.
 */
function readReply(app: PushingApp, openid: string, text: string): Pick<PushResult, 'reply' | 'replyError'> {
  if (text.trim() === '' || text.trim() === 'success') return { reply: null };
  const outer = xmlFields(text);
  if (!outer) return { reply: null, replyError: 'not XML: neither success, nor empty, nor a reply message' };
  const fields = app.aesKey === undefined ? outer : openSafeReply({ ...app, aesKey: app.aesKey }, outer);
  if (typeof fields === 'string') return { reply: null, replyError: fields };
  if (fields.ToUserName !== openid || fields.FromUserName !== originalIdOf(app.appid)) {
    return {
      reply: null,
      replyError: 'the reply is not from this account (FromUserName) to this person (ToUserName)',
    };
  }
  if (fields.MsgType !== 'text' || fields.Content === undefined) {
    return {
      reply: null,
      replyError: `a reply of MsgType ${fields.MsgType ?? '(none)'}: the emulator shows text replies only`,
    };
  }
  return { reply: fields.Content };
}

/**
 * WeChat's message push (消息推送) of an Official Account's events to its server: the event XML,
 * signed with the account's Token (and in safe mode encrypted with its EncodingAESKey), POSTed to
 * its event URL; tried again, the same message, when the server does not answer in time; the
 * passive reply read back. The last pushes are kept for GET /__emulator/pushes.
 * https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_event_pushes.html
 */
export class EventPusher {
  private pushes: PushRecord[] = [];

  constructor(
    private readonly now: () => number,
    /** The login server's GraphQL URL: events go to /wechat/events/<appid> on its origin. */
    private readonly loginServerUrl: string,
    private readonly timeoutMs: number,
  ) {}

  /** Where an account's events go: its own `eventUrl`, else the login server's event route. */
  eventUrlOf(app: EmulatorApp): string {
    return (
      app.eventUrl ?? `${new URL(this.loginServerUrl).origin}/wechat/events/${encodeURIComponent(app.appid)}`
    );
  }

  /** Pushes one event; nothing (0 attempts) for an account without a Token. */
  async push(p: EventParams): Promise<PushResult> {
    const { app } = p;
    if (app.token === undefined) return { delivered: false, attempts: 0, status: null, reply: null };
    const signed = { ...app, token: app.token };
    const createTime = Math.floor(this.now() / 1000);
    const { query, body } = signedMessage(signed, p.openid, eventXml(p, createTime), String(createTime));
    // An eventUrl may have a query of its own: the push's parameters join it.
    const url = new URL(this.eventUrlOf(app));
    for (const [name, value] of query) url.searchParams.set(name, value);
    const result = await this.post(url.href, body, (text) => readReply(signed, p.openid, text));
    this.remember({
      appid: app.appid,
      openid: p.openid,
      user: p.userKey,
      event: p.event,
      eventKey: p.eventKey,
      mode: app.aesKey === undefined ? 'plain' : 'safe',
      ...result,
      at: new Date(this.now()).toISOString(),
    });
    return result;
  }

  /** Up to three POSTs of the same message while none is answered; any status is an answer. */
  private async post(
    url: string,
    body: string,
    read: (text: string) => Pick<PushResult, 'reply' | 'replyError'>,
  ): Promise<PushResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'text/xml' },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await response.text();
        if (!response.ok)
          return { delivered: false, attempts: attempt, status: response.status, reply: null };
        return { delivered: true, attempts: attempt, status: response.status, ...read(text) };
      } catch {
        if (attempt === PUSH_ATTEMPTS)
          return { delivered: false, attempts: attempt, status: null, reply: null };
      }
    }
  }

  private remember(record: PushRecord): void {
    this.pushes.unshift(record);
    this.pushes.length = Math.min(this.pushes.length, MAX_PUSHES);
  }

  /** The pushes remembered, newest first. */
  list(): PushRecord[] {
    return [...this.pushes];
  }

  reset(): void {
    this.pushes = [];
  }
}
