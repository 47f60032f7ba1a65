import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import got, { RequestError, type Got, type Response } from 'got';
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorForErrcode, unavailable, CONFIG_ERRCODES, UNAVAILABLE_ERRCODES } from './errcodes.js';

/**
 * How a call may be retried.
 * - `single-use`: the request spends a one-time code. Once it may have reached WeChat, a second try
 *   would present a used code (40163/40029) and turn a passing fault into a failed login, so it is
 *   retried only when the connection was never made (refused, DNS), never after a timeout, a reset,
 *   a 5xx or errcode -1.
 * - `idempotent`: reads with a token we hold (userinfo): also retried after -1, 5xx and resets.
 * Timeouts are never retried: a slow WeChat does not get faster, and the client is waiting.
 */
export type RetryPolicy = 'single-use' | 'idempotent';

/** An image WeChat answered: its bytes and type (image/png or image/jpeg). */
export interface WeChatImage {
  contentType: string;
  bytes: Buffer;
}

const IMAGE = z.custom<WeChatImage>(
  (value) => typeof value === 'object' && value !== null && Buffer.isBuffer((value as WeChatImage).bytes),
);

/** Errors raised before any byte reached WeChat: safe to retry whatever the call. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);
/** Errors after the request may have been received. */
const AFTER_SEND = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);
/** A reset by the far end, as the socket reports it (read or write). */
const CLOSED_BY_PEER = new Set(['ECONNRESET', 'EPIPE']);

/**
 * A kept-alive socket unused this long is closed by us: below the keep-alive of WeChat's servers
 * and of common proxies (nginx 75 s, Node 5 s), so we close an idle connection before the far end
 * does and never send a request into one it is closing. When a server announces a shorter one
 * (`Keep-Alive: timeout=N`), Node closes ours a second before that instead.
 */
export const IDLE_SOCKET_MS = 4000;

export interface WeChatHttpOptions {
  baseUrl: string;
  timeoutMs: number;
  logger: Logger;
  /** Attempts in all for a retryable failure (default 3). */
  maxAttempts?: number;
  /** First backoff; doubles each time, plus up to the same again of random jitter (default 100 ms). */
  backoffMs?: number;
  /** Told of every attempt: its endpoint (the path), errcode (see WeChatOutcome) and seconds. */
  onAttempt?: (endpoint: string, errcode: string, seconds: number) => void;
}

/**
 * What one attempt came to, for the metrics: `0`, WeChat's errcode, or a transport failure
 * (`timeout`, `network`, `http_5xx`, `http_status` for another non-2xx, `bad_body` for an answer
 * that is not the JSON expected).
 */
export type WeChatOutcome = string;

/**
 * What one attempt came to: the parsed body, or an error and whether another attempt may help
 * (`fresh`: at once, on a new connection).
 */
type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; retry: boolean; fresh?: boolean; error: Error; errcode: WeChatOutcome };

const failed = (retry: boolean, error: Error, errcode: WeChatOutcome, fresh = false): Outcome<never> => ({
  ok: false,
  retry,
  fresh,
  error,
  errcode,
});

/** One call as `once` sends it. */
interface CallRequest {
  method: 'GET' | 'POST';
  searchParams: Record<string, string>;
  json?: unknown;
  /** The answer is an image (or a JSON error): see WeChatHttp.postForImage. */
  image?: boolean;
  /** The agents of a retry that must not reuse a kept-alive connection. */
  agent?: { http: HttpAgent; https: HttpsAgent };
}

/**
 * A request sent into a kept-alive connection that the far end had already closed: the race every
 * keep-alive client meets, which the idle timeout above makes rare but cannot rule out (a proxy or
 * NAT on the way may drop a connection sooner than WeChat announces). Recognised by three facts:
 * the request reused a socket from the pool, no byte of an answer came back, and the socket was
 * reset (a TCP RST read or written, not a plain close). A reset is the far end's kernel refusing
 * bytes that its application never read: the socket was closed with them unread, or they arrived
 * after its close. So WeChat never saw the request, and sending it again, on a new connection, is
 * safe even for a single-use code. A plain close without an answer (no RST) is not taken for
 * this: a server that read the request and then died closes the same way.
 */
function closedWhileIdle(error: RequestError): boolean {
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  return (
    error.request?.reusedSocket === true &&
    error.response === undefined &&
    (cause?.syscall === 'read' || cause?.syscall === 'write') &&
    CLOSED_BY_PEER.has(cause.code ?? '')
  );
}

/**
 * The one way to WeChat: one got instance with keep-alive, an explicit timeout on every call,
 * bodies parsed as JSON whatever their Content-Type, `errcode` mapped to typed errors, and nothing
 * secret (query strings carry secrets and codes) in a log line or an error.
 */
export class WeChatHttp {
  private readonly got: Got;
  private readonly logger: Logger;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly onAttempt: WeChatHttpOptions['onAttempt'];
  private readonly agents = {
    http: new HttpAgent({ keepAlive: true, maxSockets: 128, timeout: IDLE_SOCKET_MS }),
    https: new HttpsAgent({ keepAlive: true, maxSockets: 128, timeout: IDLE_SOCKET_MS }),
  };
  /** For a request sent again after its kept-alive connection was closed: a connection of its own. */
  private readonly freshAgents = {
    http: new HttpAgent({ keepAlive: false }),
    https: new HttpsAgent({ keepAlive: false }),
  };

  constructor(options: WeChatHttpOptions) {
    this.logger = options.logger;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.backoffMs = options.backoffMs ?? 100;
    this.onAttempt = options.onAttempt;
    this.got = got.extend({
      prefixUrl: options.baseUrl,
      timeout: { request: options.timeoutMs },
      retry: { limit: 0 },
      throwHttpErrors: false,
      followRedirect: false,
      responseType: 'text',
      agent: this.agents,
      headers: { 'user-agent': 'wechat-login-server', accept: 'application/json' },
    });
  }

  get<T>(path: string, query: Record<string, string>, schema: z.ZodType<T>, policy: RetryPolicy): Promise<T> {
    return this.call(path, { method: 'GET', searchParams: query }, schema, policy);
  }

  post<T>(
    path: string,
    query: Record<string, string>,
    body: unknown,
    schema: z.ZodType<T>,
    policy: RetryPolicy,
  ): Promise<T> {
    return this.call(path, { method: 'POST', searchParams: query, json: body }, schema, policy);
  }

  /**
   * A call whose success is an image (a mini program code): the bytes and their type, or the
   * typed error of the JSON errcode WeChat answers instead, as for any other call.
   */
  postForImage(
    path: string,
    query: Record<string, string>,
    body: unknown,
    policy: RetryPolicy,
  ): Promise<WeChatImage> {
    return this.call(path, { method: 'POST', searchParams: query, json: body, image: true }, IMAGE, policy);
  }

  /** Frees the keep-alive sockets (shutdown). */
  close(): void {
    for (const agent of [this.agents, this.freshAgents]) {
      agent.http.destroy();
      agent.https.destroy();
    }
  }

  private async call<T>(
    path: string,
    request: CallRequest,
    schema: z.ZodType<T>,
    policy: RetryPolicy,
  ): Promise<T> {
    const endpoint = path.replace(/^\/+/, '');
    let fresh = false;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const outcome: Outcome<T> = await this.once(
        endpoint,
        fresh ? { ...request, agent: this.freshAgents } : request,
        schema,
        policy,
      );
      const elapsed = performance.now() - started;
      this.onAttempt?.(endpoint, outcome.ok ? '0' : outcome.errcode, elapsed / 1000);
      if (outcome.ok) {
        const ms = Math.round(elapsed);
        this.logger.debug({ wechat: `/${endpoint}`, ms, attempt }, 'WeChat call succeeded');
        return outcome.value;
      }
      if (!outcome.retry || attempt >= this.maxAttempts) throw outcome.error;
      fresh = outcome.fresh === true;
      if (fresh) continue;
      const delay = this.backoffMs * 2 ** (attempt - 1);
      await sleep(delay + Math.random() * delay);
    }
  }

  /** One attempt; never throws. */
  private async once<T>(
    endpoint: string,
    request: CallRequest,
    schema: z.ZodType<T>,
    policy: RetryPolicy,
  ): Promise<Outcome<T>> {
    const log = { wechat: `/${endpoint}` };
    let response: Response<string | Buffer>;
    const { image, ...options } = request;
    try {
      response = image
        ? await this.got(endpoint, { ...options, responseType: 'buffer' })
        : await this.got(endpoint, { ...options, responseType: 'text' });
    } catch (error) {
      const code = error instanceof RequestError ? error.code : 'UNKNOWN';
      if (error instanceof RequestError && closedWhileIdle(error)) {
        this.logger.info(
          { ...log, error: code },
          'WeChat closed an idle connection as the call went out: sending it again',
        );
        return failed(true, unavailable(), 'network', true);
      }
      const notSent = NOT_SENT.has(code);
      const retry = notSent || (policy === 'idempotent' && AFTER_SEND.has(code));
      // error.message can hold the URL with its query string (secret, code): log the code only.
      this.logger.warn({ ...log, error: code }, 'WeChat call failed');
      return failed(retry, unavailable(), code === 'ETIMEDOUT' ? 'timeout' : 'network');
    }
    if (response.statusCode >= 500 || response.statusCode < 200 || response.statusCode >= 300) {
      this.logger.warn({ ...log, status: response.statusCode }, 'WeChat answered with an HTTP error');
      const server = response.statusCode >= 500;
      return failed(policy === 'idempotent' && server, unavailable(), server ? 'http_5xx' : 'http_status');
    }
    const type = String(response.headers['content-type'] ?? '');
    if (image && /^image\/(png|jpeg)\b/i.test(type) && Buffer.isBuffer(response.body)) {
      return {
        ok: true,
        value: schema.parse({ contentType: type.split(';')[0]!.toLowerCase(), bytes: response.body }),
      };
    }
    let body: unknown;
    try {
      body = JSON.parse(response.body.toString());
    } catch {
      this.logger.warn(
        { ...log, status: response.statusCode },
        'WeChat answered with a body that is not JSON',
      );
      return failed(false, unavailable(), 'bad_body');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.logger.warn(log, 'WeChat answered with JSON that is not an object');
      return failed(false, unavailable(), 'bad_body');
    }
    const errcode = Number((body as { errcode?: unknown }).errcode ?? 0);
    if (errcode !== 0 && Number.isFinite(errcode)) {
      const errmsg = String((body as { errmsg?: unknown }).errmsg ?? '');
      const details = CONFIG_ERRCODES.has(errcode) ? { errmsg } : {};
      this.logger.warn({ ...log, errcode, ...details }, 'WeChat answered with an error');
      return failed(
        policy === 'idempotent' && UNAVAILABLE_ERRCODES.has(errcode),
        errorForErrcode(errcode),
        // WeChat's codes are integers of a fixed list; anything else is one label, not its value.
        Number.isSafeInteger(errcode) && Math.abs(errcode) < 1e6 ? String(errcode) : 'other',
      );
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      // Values may be secret (session_key, tokens): log only which fields were wrong.
      this.logger.warn(
        { ...log, fields: parsed.error.issues.map((i) => i.path.join('.')) },
        'WeChat answered with an unexpected body',
      );
      return failed(false, unavailable(), 'bad_body');
    }
    return { ok: true, value: parsed.data };
  }
}
