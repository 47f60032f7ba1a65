import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { SecretBox } from '../crypto/secret-box.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import { UserLoginMethod } from './user-login-method.entity.js';
import { User } from './user.entity.js';
import { UserRepository } from './user.repository.js';
import type { WeChatIdentity } from './wechat-identity.js';

export interface FoundUser {
  user: User;
  isNewUser: boolean;
}

/**
 * The identity rules (docs/architecture.md, "Identity"): one user per (appId, openId), one per
 * unionId; a login finds the user of its (appId, openId), else the user of its unionId (this app
 * is linked to them), else registers a new user.
 */
export class AccountService {
  constructor(
    private readonly box: SecretBox,
    private readonly logger: Logger,
    private readonly outbox: WebhookOutbox,
  ) {}

  /**
   * The returning-user fast path, in one statement: the user, or null when this login needs
   * findOrRegister. `profileFreshAfter`: only match if the profile was fetched after it.
   */
  loginReturning(
    em: EntityManager,
    identity: WeChatIdentity,
    session: { sessionId: string; tokenHash: string; expiresAt: Date },
    now: Date,
    profileFreshAfter: Date | null,
  ): Promise<User | null> {
    return UserRepository.loginReturning(em, {
      appId: identity.appId,
      openId: identity.openId,
      unionId: identity.unionId,
      sealedAccessCode: identity.accessCode ? this.box.seal(identity.accessCode) : null,
      profileFreshAfter,
      session,
      now,
    });
  }

  /**
   * Runs inside the caller's transaction; a concurrent first login surfaces as a unique violation
   * at flush, and the caller retries, finding the winner.
   */
  async findOrRegister(em: EntityManager, identity: WeChatIdentity, now: Date): Promise<FoundUser> {
    const accessCode = identity.accessCode ? this.box.seal(identity.accessCode) : undefined;
    const method = await em.findOne(
      UserLoginMethod,
      { appId: identity.appId, openId: identity.openId },
      { populate: ['user'] },
    );
    if (method) {
      method.lastLoginAt = now;
      if (accessCode) method.accessCode = accessCode;
      if (identity.profile) method.profileRefreshedAt = now;
      if (identity.unionId && !method.unionId) method.unionId = identity.unionId;
      const user = method.user as User;
      if (identity.unionId && !user.unionId) await this.claimUnionId(em, user, identity.unionId);
      this.applyProfile(user, identity.profile);
      if (identity.phoneNumber) user.phoneNumber = identity.phoneNumber;
      return { user, isNewUser: false };
    }

    let user = identity.unionId ? await em.findOne(User, { unionId: identity.unionId }) : null;
    const isNewUser = !user;
    if (!user) {
      user = em.create(User, { unionId: identity.unionId ?? null, createdAt: now, updatedAt: now });
    }
    this.applyProfile(user, identity.profile);
    if (identity.phoneNumber) user.phoneNumber = identity.phoneNumber;
    const created = em.create(UserLoginMethod, {
      user,
      kind: identity.kind,
      appId: identity.appId,
      openId: identity.openId,
      unionId: identity.unionId ?? null,
      accessCode: accessCode ?? null,
      lastLoginAt: now,
      profileRefreshedAt: identity.profile ? now : null,
      createdAt: now,
      updatedAt: now,
    });
    if (isNewUser) {
      this.outbox.emit(
        em,
        'user.created',
        { userId: user.id, loginMethod: { id: created.id, kind: created.kind, appId: created.appId } },
        now,
      );
    }
    return { user, isNewUser };
  }

  /**
   * WeChat's profile onto the user: it replaces the stored one, unless the person chose theirs
   * (updateProfile, `profileChosenAt`): then it only fills a field that is still empty.
   */
  private applyProfile(user: User, profile: WeChatIdentity['profile']): void {
    const open = (current: string | null) => user.profileChosenAt === null || current === null;
    if (profile?.nickname && open(user.nickname)) user.nickname = profile.nickname;
    if (profile?.avatarUrl && open(user.avatarUrl)) user.avatarUrl = profile.avatarUrl;
  }

  /** A user first seen through an unbound app learns its unionId, unless another user has it. */
  private async claimUnionId(em: EntityManager, user: User, unionId: string): Promise<void> {
    const holder = await em.count(User, { unionId });
    if (holder === 0) {
      user.unionId = unionId;
    } else {
      this.logger.warn({ userId: user.id }, 'unionid already belongs to another user: accounts not merged');
    }
  }
}
