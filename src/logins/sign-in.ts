import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { AuditLog } from '../audit/audit-log.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { AppError, UnauthenticatedError, UserDisabledError } from '../errors.js';
import type { AccountService } from '../identity/account.service.js';
import { LifecycleRepository } from '../identity/lifecycle.repository.js';
import { retryingRaces } from '../identity/races.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { User } from '../identity/user.entity.js';
import type { UserSummary } from '../identity/user.repository.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import type { RateLimiter } from '../rate-limits/rate-limiter.js';
import { LoginRepository } from '../sessions/login.repository.js';
import type { RequestClient } from '../sessions/session-device.js';
import type { IssuedTokens, SessionService } from '../sessions/session.service.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import type { AppLoginInput } from './app.login.js';
import { DuplicateLogins } from './duplicate-logins.js';
import type { MiniLoginInput } from './mini-program.login.js';
import type { LinkFields, Platform } from './platform.js';
import type { RedirectLoginInput } from './redirect.login.js';

/** How far a login got, for its audit event if it fails. */
interface Attempt {
  /** The client's IP was counted (rate limited): from here on a failure is recorded. */
  admitted: boolean;
  /** Who WeChat said it was, once the code was exchanged. */
  identity: Pick<WeChatIdentity, 'appId' | 'openId'> | null;
}

/** A login's `login.succeeded` event in the transaction that opened its session. */
function auditLogin(
  tx: EntityManager,
  client: RequestClient,
  identity: { kind: LoginMethodKind; appId: string | null; openId: string | null },
  userId: string,
  details: Record<string, unknown>,
  now: Date,
): void {
  AuditLog.record(
    tx,
    { actor: { type: 'user', id: userId }, client },
    {
      type: 'login.succeeded',
      userId,
      appId: identity.appId,
      openId: identity.openId,
      details: { kind: identity.kind, ...details },
    },
    now,
  );
}

/** What every login answers. */
export interface LoginResult extends IssuedTokens {
  user: UserSummary;
  isNewUser: boolean;
  /** Another user holds this person's unionId (docs/architecture.md, "Identity"). */
  otherAccountExists: boolean;
}

/** The input of each kind's login mutation. */
export interface PlatformInputs {
  WECHAT_WEB: RedirectLoginInput;
  WECHAT_APP: AppLoginInput;
  WECHAT_MINI: MiniLoginInput;
  WECHAT_OFFICIAL_ACCOUNT: RedirectLoginInput;
}

/** Every way in, by the kind of login method it gives: what logins and links look up. */
export type Platforms = { [K in LoginMethodKind]: Platform<PlatformInputs[K]> };

export interface SignInDeps {
  platforms: Platforms;
  accounts: AccountService;
  sessions: SessionService;
  rateLimiter: RateLimiter;
  box: SecretBox;
  outbox: WebhookOutbox;
  logger: Logger;
  /** Told how each login ended: undefined for success, else what it threw (metrics). */
  onLogin: (kind: LoginMethodKind, error?: unknown) => void;
}

/**
 * The one sequence every login runs, whatever the platform (docs/architecture.md, "The path of a
 * login"): the app and the input checked, an identical login under way joined, the client IP
 * counted, the code exchanged by the platform, the WeChat identity counted, then the returning
 * login in one statement, or the platform's enrichment and find-or-register, and the session.
 */
export class SignIn {
  private readonly duplicates = new DuplicateLogins<LoginResult>();

  constructor(private readonly deps: SignInDeps) {}

  async login<K extends LoginMethodKind>(
    em: EntityManager,
    kind: K,
    input: PlatformInputs[K],
    client: RequestClient,
  ): Promise<LoginResult> {
    const attempt: Attempt = { admitted: false, identity: null };
    try {
      const result = await this.run(
        em,
        this.deps.platforms[kind] as Platform<PlatformInputs[K]>,
        input,
        client,
        attempt,
      );
      this.deps.onLogin(kind);
      return result;
    } catch (error) {
      this.deps.onLogin(kind, error);
      await this.auditFailure(em, kind, client, attempt, error);
      throw error;
    }
  }

  /**
   * A failed login's `login.failed` event, once the client's IP was admitted (what comes before
   * costs a stranger nothing and is not recorded, nor is RATE_LIMITED: either would let anyone fill
   * the table). Kept by user where one is known (a disabled user), else by the identity WeChat
   * named, else by the client's network alone. Nothing else of the login was written: the event
   * is written on its own, and a failure to write it is logged, never the login's answer.
   */
  private async auditFailure(
    em: EntityManager,
    kind: LoginMethodKind,
    client: RequestClient,
    attempt: Attempt,
    error: unknown,
  ): Promise<void> {
    if (!attempt.admitted) return;
    const code = error instanceof AppError ? error.code : 'INTERNAL_SERVER_ERROR';
    if (code === 'RATE_LIMITED') return;
    const userId = error instanceof UserDisabledError ? error.userId : null;
    try {
      await AuditLog.write(
        em,
        { actor: userId ? { type: 'user', id: userId } : { type: 'anonymous' }, client },
        {
          type: 'login.failed',
          userId,
          appId: attempt.identity?.appId ?? null,
          openId: attempt.identity?.openId ?? null,
          errorCode: code,
          details: { kind },
        },
      );
    } catch (writeError) {
      this.deps.logger.warn({ err: writeError, code }, 'a failed login’s audit event could not be written');
    }
  }

  /**
   * Who a link's code names, exchanged exactly as its kind's login would (a website's state
   * checked and spent first, PKCE included) and counted against the same limits; with the
   * profile or phone number the platform adds.
   */
  async identify(
    em: EntityManager,
    kind: LoginMethodKind,
    fields: LinkFields,
    clientIp: string,
  ): Promise<WeChatIdentity> {
    const platform: Platform<object> = this.deps.platforms[kind];
    const input = platform.linkInput(fields);
    await this.deps.rateLimiter.ip('login', clientIp);
    const app = platform.check(input);
    const exchange = await platform.exchange(em, app, input);
    await this.deps.rateLimiter.identity(app.appId, exchange.identity.openId);
    return exchange.enrich();
  }

  private async run<Input extends object>(
    em: EntityManager,
    platform: Platform<Input>,
    input: Input,
    client: RequestClient,
    attempt: Attempt,
  ): Promise<LoginResult> {
    const app = platform.check(input);
    // An identical login under way (a double click, WeChat redirecting twice) is joined: one
    // exchange of the single-use code, a session of its own for each caller.
    const { result, joined } = await this.duplicates.join(platform.kind, input, async () => {
      await this.deps.rateLimiter.ip('login', client.ip);
      attempt.admitted = true;
      const exchange = await platform.exchange(em, app, input);
      attempt.identity = exchange.identity;
      await this.deps.rateLimiter.identity(app.appId, exchange.identity.openId);
      if (exchange.returning !== false) {
        const returning = await this.returning(em, exchange.identity, exchange.returning, client);
        if (returning) return returning;
      }
      return this.register(em, await exchange.enrich(), client);
    });
    return joined ? this.joinedSession(em, platform.kind, result, client) : result;
  }

  /**
   * The one-statement returning-user login, or null when the full path is needed (new identity,
   * a unionId to record or claim, a profile older than `profileFreshAfter`).
   */
  private async returning(
    em: EntityManager,
    identity: WeChatIdentity,
    profileFreshAfter: Date | null,
    client: RequestClient,
  ): Promise<LoginResult | null> {
    const now = new Date();
    const session = this.deps.sessions.prepare(now, client);
    const found = await LoginRepository.returning(em, {
      appId: identity.appId,
      openId: identity.openId,
      unionId: identity.unionId,
      sealedAccessCode: this.sealed(identity),
      profileFreshAfter,
      session,
      now,
      audit: AuditLog.loginParams(client, { kind: identity.kind, isNewUser: false }),
    });
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
   * With registration closed only find-or-register runs: it links or finds, and refuses a new person.
   */
  private async register(
    em: EntityManager,
    identity: WeChatIdentity,
    client: RequestClient,
  ): Promise<LoginResult> {
    const now = new Date();
    const session = this.deps.sessions.prepare(now, client);
    let user: UserSummary | null = null;
    try {
      if (this.deps.accounts.registrationOpen) {
        user = await this.registerNew(em, identity, session, client, now);
      }
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
      const tokens = await this.deps.sessions.create(tx, found.user, client, now);
      // The fields a returning login changed from WeChat's data, by name (a phone number among them).
      const details = {
        isNewUser: found.isNewUser,
        ...(found.changed.length && { changed: found.changed }),
        ...(found.byImportedPhone && { linkedByImportedPhone: true }),
      };
      auditLogin(tx, client, identity, found.user.id, details, now);
      const { user, isNewUser, otherAccountExists } = found;
      return { ...tokens, user, isNewUser, otherAccountExists };
    });
  }

  /** LoginRepository.registerNew with this identity, its new ids and its `user.created` event. */
  private registerNew(
    em: EntityManager,
    identity: WeChatIdentity,
    session: ReturnType<SessionService['prepare']>,
    client: RequestClient,
    now: Date,
  ): Promise<UserSummary | null> {
    const userId = randomUUID();
    const methodId = randomUUID();
    const loginMethod = { id: methodId, kind: identity.kind, appId: identity.appId };
    return LoginRepository.registerNew(em, {
      now,
      userId,
      methodId,
      kind: identity.kind,
      appId: identity.appId,
      openId: identity.openId,
      unionId: identity.unionId,
      nickname: identity.profile?.nickname || null,
      avatarUrl: identity.profile?.avatarUrl || null,
      phoneNumber: identity.phoneNumber || null,
      sealedAccessCode: this.sealed(identity),
      profileRefreshedAt: identity.profile ? now : null,
      session,
      event: this.deps.outbox.prepare('user.created', { userId, loginMethod }, now),
      audit: AuditLog.loginParams(client, { kind: identity.kind, isNewUser: true }),
    });
  }

  /**
   * A session of its own for a caller that joined an identical login. The user may have been
   * merged or deleted since: locked and checked, so no session opens on an account that ended
   * (a merge or deletion ends them all).
   */
  private async joinedSession(
    em: EntityManager,
    kind: LoginMethodKind,
    result: LoginResult,
    client: RequestClient,
  ): Promise<LoginResult> {
    const tokens = await em.fork().transactional(async (tx) => {
      const [user] = await LifecycleRepository.lockUsers(tx, result.user.id);
      if (!user || user.deletedAt) {
        throw new UnauthenticatedError('This account was merged or deleted during the login: sign in again');
      }
      if (user.disabledAt) throw new UserDisabledError(user.id);
      const now = new Date();
      const tokens = await this.deps.sessions.create(tx, tx.getReference(User, result.user.id), client, now);
      auditLogin(tx, client, { kind, appId: null, openId: null }, result.user.id, { joined: true }, now);
      return tokens;
    });
    const { user, isNewUser, otherAccountExists } = result;
    return { ...tokens, user, isNewUser, otherAccountExists };
  }

  /** The WeChat credential to keep, sealed (never stored in the clear). */
  private sealed(identity: WeChatIdentity): string | null {
    return identity.accessCode ? this.deps.box.seal(identity.accessCode) : null;
  }
}
