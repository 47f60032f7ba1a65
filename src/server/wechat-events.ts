import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config, ConfiguredApp } from '../config.js';
import { AppError } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { clientKey } from '../rate-limits/client-key.js';
import type { FollowLogin, PushOutcome } from '../official-account/follow-login.js';
import {
  openPush,
  passiveReply,
  PushMalformed,
  PushRefused,
  urlCheck,
  type PushQuery,
  type PushReceiver,
} from '../official-account/push-message.js';

/** A pushed message is a few hundred bytes (a 2 KB text message, encrypted, under 4 KiB). */
export const MAX_PUSH_BYTES = 16 * 1024;
/**
 * Refused pushes one client (IP, or IPv6 network) may send a minute, counted in this process:
 * past it, 429 before any check and no log line (guessing a Token, flooding the log).
 */
export const REFUSALS_PER_MINUTE = 20;
/**
 * WeChat waits 5 s for an answer, then retries. What is not done by this time goes on after the
 * answer (`success`, no reply); a retry of it waits for it and then finds it handled.
 */
export const PUSH_ANSWER_DEADLINE_MS = 4000;

export interface WechatEventsDeps {
  config: Config;
  followLogin: FollowLogin;
  em: EntityManager;
  logger: Logger;
  metrics: Metrics;
}

/** The query's single-valued parameters (a repeated one is no WeChat's and counts as absent). */
function pushQuery(request: FastifyRequest): PushQuery {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const text = (name: keyof PushQuery) => (typeof query[name] === 'string' ? query[name] : undefined);
  return {
    signature: text('signature'),
    timestamp: text('timestamp'),
    nonce: text('nonce'),
    echostr: text('echostr'),
    encrypt_type: text('encrypt_type'),
    msg_signature: text('msg_signature'),
  };
}

/** The official account `appId` names, when it receives pushes (has a Token). */
function receiverOf(config: Config, appId: string): (ConfiguredApp & PushReceiver) | undefined {
  const app = config.wechat.apps.find((a) => a.kind === 'official' && a.appId === appId);
  return app?.token ? { ...app, token: app.token } : undefined;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * `GET|POST /wechat/events/:appId`, each Official Account's server URL (服务器配置): the URL check
 * and its pushed messages (docs/api.md, "Follow-login"). Only signed, fresh pushes are read (401
 * and one log line without the body otherwise); each is handled once; WeChat always has its answer
 * within PUSH_ANSWER_DEADLINE_MS; failures answer 503 with nothing written, so WeChat's retry
 * does the work again.
 */
export function registerWechatEvents(app: FastifyInstance, deps: WechatEventsDeps): void {
  const { config, followLogin, em, metrics } = deps;
  const logger = deps.logger.child({ component: 'official-account' });
  const reply = config.loginTickets.followReply;
  const refusals = new RateLimiterMemory({ points: REFUSALS_PER_MINUTE, duration: 60 });
  const keyOf = (request: FastifyRequest) => clientKey(request.ip, config.rateLimit.ipv6Prefix);

  /** A client past its refusals gets 429 for the rest of its minute, before anything is read. */
  const tooMany = async (request: FastifyRequest, response: FastifyReply) => {
    const counted = await refusals.get(keyOf(request));
    if (!counted || counted.consumedPoints < REFUSALS_PER_MINUTE) return false;
    const seconds = Math.max(1, Math.ceil(counted.msBeforeNext / 1000));
    await response
      .code(429)
      .header('retry-after', String(seconds))
      .type('text/plain; charset=utf-8')
      .send('slow down');
    return true;
  };

  const refuse = async (request: FastifyRequest, response: FastifyReply, appId: string, error: Error) => {
    const refused = error instanceof PushRefused;
    metrics.officialAccountPushes.inc({ outcome: refused ? 'refused' : 'malformed' });
    // Counted; the rejection of the last point is the limit reached, not an error.
    await refusals.consume(keyOf(request)).catch(() => undefined);
    request.log.warn(
      { appId, reason: error.message },
      refused ? 'Official Account push refused' : 'Official Account push unreadable',
    );
    return response
      .code(refused ? 401 : 400)
      .type('text/plain; charset=utf-8')
      .send(refused ? 'signature or timestamp refused' : 'not a message');
  };

  app.register(async (scope) => {
    // WeChat sends text/xml; whatever the type, the body is read as text, within the limit.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'string', bodyLimit: MAX_PUSH_BYTES },
      (_request, body, done) => done(null, body),
    );

    scope.get<{ Params: { appId: string } }>('/wechat/events/:appId', async (request, response) => {
      if (await tooMany(request, response)) return response;
      const receiver = receiverOf(config, request.params.appId);
      if (!receiver) return response.code(404).type('text/plain; charset=utf-8').send('no such account');
      try {
        const echostr = urlCheck(receiver, pushQuery(request), nowSeconds());
        request.log.info({ appId: receiver.appId }, 'Official Account server URL checked');
        return response.type('text/plain; charset=utf-8').send(echostr);
      } catch (error) {
        if (error instanceof PushRefused) return refuse(request, response, receiver.appId, error);
        throw error;
      }
    });

    scope.post<{ Params: { appId: string } }>(
      '/wechat/events/:appId',
      { bodyLimit: MAX_PUSH_BYTES },
      async (request, response) => {
        if (await tooMany(request, response)) return response;
        const receiver = receiverOf(config, request.params.appId);
        if (!receiver) return response.code(404).type('text/plain; charset=utf-8').send('no such account');
        let message;
        try {
          const body = typeof request.body === 'string' ? request.body : '';
          message = openPush(receiver, pushQuery(request), body, nowSeconds());
        } catch (error) {
          if (error instanceof PushRefused || error instanceof PushMalformed) {
            return refuse(request, response, receiver.appId, error);
          }
          throw error;
        }
        const work = followLogin.handle(em.fork(), receiver, message);
        const outcome = await withDeadline(work, PUSH_ANSWER_DEADLINE_MS).catch((error: unknown) => {
          metrics.officialAccountPushes.inc({ outcome: 'failed' });
          request.log.error(failure(receiver.appId, message.event, error), 'Official Account push failed');
          return 'failed' as const;
        });
        if (outcome === 'failed') {
          return response.code(503).type('text/plain; charset=utf-8').send('try again');
        }
        if (outcome === 'late') {
          metrics.officialAccountPushes.inc({ outcome: 'late' });
          // Answered now; the work's end is still counted and logged.
          work.then(
            (late) => metrics.officialAccountPushes.inc({ outcome: late }),
            (error: unknown) => {
              metrics.officialAccountPushes.inc({ outcome: 'failed' });
              logger.error(
                failure(receiver.appId, message.event, error),
                'Official Account push failed after its answer',
              );
            },
          );
          return response.type('text/plain; charset=utf-8').send('success');
        }
        metrics.officialAccountPushes.inc({ outcome });
        if (outcome === 'login' && reply) {
          return response
            .type('application/xml; charset=utf-8')
            .send(passiveReply(receiver, message, reply, nowSeconds()));
        }
        return response.type('text/plain; charset=utf-8').send('success');
      },
    );
  });
}

/** What a failed push tells the log: which account and event, and why, never the message. */
function failure(appId: string, event: string | null, error: unknown) {
  return {
    appId,
    event,
    ...(error instanceof AppError ? { code: error.code } : { err: error }),
  };
}

/** The outcome of `work`, or `late` when it takes longer than `ms` (it goes on). */
async function withDeadline(work: Promise<PushOutcome>, ms: number): Promise<PushOutcome | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
