import { AuditLog, type AuditSource } from '../audit/audit-log.js';
import type { RequestClient } from '../sessions/session-device.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import { UnauthenticatedError } from '../errors.js';
import { UserLoginMethod } from '../identity/user-login-method.entity.js';
import type { User } from '../identity/user.entity.js';
import { UserRepository } from '../identity/user.repository.js';
import type { RateLimiter } from '../rate-limits/rate-limiter.js';
import type { PhoneNumberClient } from '../wechat/phone-number.client.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import { checkCode } from './login-input.js';
import { credentialsFor } from './platform.js';

export interface PhoneNumberServiceDeps {
  config: Config;
  client: PhoneNumberClient;
  rateLimiter: RateLimiter;
  outbox: WebhookOutbox;
}

/**
 * A signed-in user's phone number, from the code of a mini program's getPhoneNumber button
 * (docs/api.md, "Phone numbers"). The number is shown to its user alone and never logged.
 */
export class PhoneNumberService {
  constructor(private readonly deps: PhoneNumberServiceDeps) {}

  /**
   * bindWechatPhoneNumber: checks the code (BAD_USER_INPUT before any I/O), counts the client IP,
   * exchanges the code with the mini program's app access token, then stores the number on the
   * user in one statement, in one transaction with its `user.updated` event (which names the
   * field, never the number). `appId` names the mini program when a client sends it. The user's
   * openid in that mini program goes with the code, so WeChat refuses another person's code; a user
   * who never logged in to it (no openid to send) gets the number WeChat gives for the code.
   */
  async bind(
    em: EntityManager,
    userId: string,
    code: string,
    appId: string | null | undefined,
    source: AuditSource & { client: RequestClient },
  ): Promise<User> {
    const app = credentialsFor(this.deps.config, 'mini', appId);
    checkCode(code, 'code');
    await this.deps.rateLimiter.ip('phone', source.client.ip);
    const method = await em.findOne(
      UserLoginMethod,
      { user: userId, appId: app.appId },
      { fields: ['openId'], orderBy: { lastLoginAt: 'desc' } },
    );
    const phoneNumber = await this.deps.client.phoneNumber(em, app, code, 'code', method?.openId);
    return em.transactional(async (tx) => {
      const now = new Date();
      const user = await UserRepository.setPhoneNumber(tx, userId, phoneNumber, now);
      if (!user) throw new UnauthenticatedError('The signed-in user no longer exists: sign in again');
      this.deps.outbox.emit(tx, 'user.updated', { userId, changed: ['phoneNumber'] }, now);
      // That it changed, and through which mini program; never the number.
      AuditLog.record(tx, source, { type: 'phone_number.updated', userId, appId: app.appId }, now);
      return user;
    });
  }
}
