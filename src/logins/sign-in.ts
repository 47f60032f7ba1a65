import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AccountService } from '../identity/account.service.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { UnauthenticatedError } from '../errors.js';
import { LifecycleRepository } from '../identity/lifecycle.repository.js';
import { retryingRaces } from '../identity/races.js';
import { User } from '../identity/user.entity.js';
import type { UserSummary } from '../identity/user.repository.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import type { RateLimiter } from '../rate-limits/rate-limiter.js';
import type { IssuedTokens, SessionService } from '../sessions/session.service.js';
import { DuplicateLogins } from './duplicate-logins.js';

/** What every login answers. */
export interface LoginResult extends IssuedTokens {
  user: UserSummary;
  isNewUser: boolean;
  /** Another user holds this person's unionId (docs/architecture.md, "Identity"). */
  otherAccountExists: boolean;
}

export interface SignInDeps {
  accounts: AccountService;
  sessions: SessionService;
  rateLimiter: RateLimiter;
}

/**
 * The steps every login shares, whatever the platform: admission (duplicate joining, the per-IP
 * limit), the per-identity limit, and from a WeChat identity to our session, either in one
 * statement (returning user) or by find-or-register in one transaction.
 */
export class SignIn {
  private readonly duplicates = new DuplicateLogins<LoginResult>();

  constructor(private readonly deps: SignInDeps) {}

  /**
   * Runs a login unless an identical one is under way (then joins it: one WeChat exchange, but a
   * session of its own for each caller); counts the client IP first.
   */
  async admit(
    em: EntityManager,
    kind: LoginMethodKind,
    input: object,
    clientIp: string,
    run: () => Promise<LoginResult>,
  ): Promise<LoginResult> {
    const { result, joined } = await this.duplicates.join(kind, input, async () => {
      await this.deps.rateLimiter.ip('login', clientIp);
      return run();
    });
    if (!joined) return result;
    const tokens = await em.fork().transactional(async (tx) => {
      // The user may have been merged or deleted since the login it joins: locked and checked,
      // so no session opens on an account that ended (a merge or deletion ends them all).
      const [user] = await LifecycleRepository.lockUsers(tx, result.user.id);
      if (!user || user.deleted_at) {
        throw new UnauthenticatedError('This account was merged or deleted during the login: sign in again');
      }
      return this.deps.sessions.create(tx, tx.getReference(User, result.user.id));
    });
    return {
      ...tokens,
      user: result.user,
      isNewUser: result.isNewUser,
      otherAccountExists: result.otherAccountExists,
    };
  }

  /** Counts a login of this WeChat identity (across IPs), once WeChat has said who it is. */
  limitIdentity(em: EntityManager, appId: string, openId: string): Promise<void> {
    return this.deps.rateLimiter.identity(appId, openId);
  }

  /**
   * The one-statement returning-user login, or null when the full path is needed (new identity,
   * a unionId to record or claim, a profile to store or older than `profileFreshAfter`).
   */
  async returning(
    em: EntityManager,
    identity: WeChatIdentity,
    profileFreshAfter: Date | null,
  ): Promise<LoginResult | null> {
    const now = new Date();
    const session = this.deps.sessions.prepare(now);
    const found = await this.deps.accounts.loginReturning(em, identity, session, now, profileFreshAfter);
    if (!found) return null;
    const { user, otherAccountExists } = found;
    return {
      ...(await this.deps.sessions.issue(user.id, session, now)),
      user,
      isNewUser: false,
      otherAccountExists,
    };
  }

  /**
   * A first login in one statement when this identity and its unionId are nobody's yet; otherwise
   * (or when a concurrent first login of the same person won that race) find-or-register and a
   * session in one transaction (unionId links, profile updates, unionId claims). A lost race there
   * (a unique violation, a merge or deletion of the user meanwhile) is retried and finds the new state.
   */
  async register(em: EntityManager, identity: WeChatIdentity): Promise<LoginResult> {
    const now = new Date();
    const session = this.deps.sessions.prepare(now);
    let user: UserSummary | null = null;
    try {
      user = await this.deps.accounts.registerNew(em, identity, session, now);
    } catch (error) {
      // A concurrent first login of the same person won (execute converts the driver's error).
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
    if (user) {
      return {
        ...(await this.deps.sessions.issue(user.id, session, now)),
        user,
        isNewUser: true,
        otherAccountExists: false,
      };
    }
    return retryingRaces(em, async (tx) => {
      const now = new Date();
      const found = await this.deps.accounts.findOrRegister(tx, identity, now);
      const tokens = await this.deps.sessions.create(tx, found.user, now);
      return { ...tokens, ...found };
    });
  }
}
