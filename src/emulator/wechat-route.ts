import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import type { Traffic } from './traffic.js';
import type { WeChatBody } from './wechat-errors.js';

/** Query parameters as WeChat reads them: strings, each optional (a missing one is an errcode). */
export type Query = Record<string, string | undefined>;

/** One query parameter: a string, or absent; given twice, the first value counts. */
const Param = z.preprocess((v) => (Array.isArray(v) ? v[0] : v), z.string().optional());

/** The querystring schema of a WeChat API route: these parameters, each optional (WeChat answers a missing one with an errcode). */
export function wechatQuery(...names: string[]): z.ZodType<Query> {
  return z.object(Object.fromEntries(names.map((name) => [name, Param])));
}

/** Fastify validates route schemas (zod) with this; a failure is a 400 `{ error: "field: reason" }`. */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data ?? {});
    if (result.success) return { value: result.data };
    const issue = result.error.issues[0]!;
    return { error: new Error(`${issue.path.join('.') || 'body'}: ${issue.message}`) };
  };

/** An answer that is not JSON: bytes and their content type (a mini program code's PNG). */
export class BinaryAnswer {
  constructor(
    readonly contentType: string,
    readonly bytes: Buffer,
  ) {}
}

/** What a WeChat route answers: a JSON body (errors always are), or bytes. */
export type WeChatAnswer = WeChatBody | BinaryAnswer;

/**
 * Gives the answer of one call. `logAs` names the app the call was for when it is not in the
 * query or body (routes that take an app access token), for the request log.
 */
export type WeChatAnswerer = (logAs: (appid: string) => void) => WeChatAnswer | Promise<WeChatAnswer>;

/** Answers one WeChat API call: `answer` gives the body for its parameters. */
export type WeChatResponder = (
  request: FastifyRequest,
  reply: FastifyReply,
  answer: WeChatAnswerer,
) => Promise<FastifyReply>;

/**
 * What every WeChat API route does around its answer: the added latency, an injected fault, the
 * request log, and WeChat's body conventions (HTTP 200 for errors, `/sns/*` as text/plain). A
 * binary answer (an image) goes out as it is, with its content type; faults replace it as any other.
 */
export function wechatResponder(traffic: Traffic): WeChatResponder {
  return async (request, reply, answer) => {
    const path = request.url.split('?')[0]!;
    const query = request.query as Query;
    const body = (request.body ?? {}) as Record<string, unknown>;
    let appid = query.appid ?? (typeof body.appid === 'string' ? body.appid : null);
    const log = (outcome: string) =>
      traffic.record({ method: request.method, path, appid, outcome }, request.raw.socket);
    if (traffic.latencyMs > 0) await sleep(traffic.latencyMs);
    const fault = traffic.takeFault(path);
    if (fault?.reset) {
      // Before the delay and the answer: a server closing an idle connection never acts on the call.
      log('fault:reset');
      request.raw.socket.resetAndDestroy();
      return reply.hijack();
    }
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.drop) {
      log('fault:drop');
      request.raw.socket.destroy();
      return reply.hijack();
    }
    if (fault?.status !== undefined) {
      log(`fault:status:${fault.status}`);
      return reply
        .code(fault.status)
        .type('text/html')
        .send(`<html><body><h1>${fault.status}</h1>emulated server error</body></html>`);
    }
    if (fault?.malformed) {
      log('fault:malformed');
      return reply.type('text/html').send('<html><body>emulated: this is not JSON</body></html>');
    }
    let result: WeChatAnswer;
    if (fault?.errcode !== undefined) {
      result = { errcode: fault.errcode, errmsg: `emulated fault, rid: ${Date.now().toString(16)}` };
    } else if (body.__malformed) {
      result = { errcode: 47001, errmsg: 'data format error' };
    } else {
      result = await answer((id) => {
        appid = id;
      });
    }
    if (result instanceof BinaryAnswer) {
      log('ok');
      return reply.code(200).type(result.contentType).send(result.bytes);
    }
    const errcode = typeof result.errcode === 'number' && result.errcode !== 0 ? result.errcode : 0;
    log(errcode ? `errcode:${errcode}` : 'ok');
    // WeChat answers errors with HTTP 200; /sns/* bodies come as text/plain, the rest as JSON.
    return reply
      .code(200)
      .type(path.startsWith('/sns/') ? 'text/plain' : 'application/json; encoding=utf-8')
      .send(JSON.stringify(result));
  };
}
