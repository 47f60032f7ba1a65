import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { SecretBox } from '../crypto/secret-box.js';
import { RegistrationClosedError, UserDisabledError } from '../errors.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';
import { LifecycleRepository } from './lifecycle.repository.js';
import { LostRace } from './races.js';
import { UserLoginMethod } from './user-login-method.entity.js';
import { User } from './user.entity.js';
import { UserRepository } from './user.repository.js';
import type { WeChatIdentity } from './wechat-identity.js';

export type ChangedField = 'nickname' | 'avatarUrl' | 'phoneNumber';

export interface FoundUser {
  user: User;
  isNewUser: boolean;
  /** Another user holds this identity's unionId (docs/architecture.md, "Identity"). */
  otherAccountExists: boolean;
  /** The fields of an existing user this login changed from WeChat's data (for the audit log). */
  changed: ChangedField[];
  /** A new identity joined an imported user by its verified phone number (docs/import.md). */
  byImportedPhone?: boolean;
}

/**
 * The identity rules (docs/architecture.md, "Identity"): one user per (appId, openId), one per
 * unionId; a login finds the user of its (appId, openId), else the user of its unionId (this app
 * is linked to them), else the one imported user of the phone number WeChat verified with it
 * (docs/import.md), else registers a new user. A login that reveals a unionId another user holds
 * merges nothing: it answers as the user of its (appId, openId), with `otherAccountExists`.
 * While registration is closed (REGISTRATION=closed) an identity that matches no user is refused
 * (REGISTRATION_CLOSED) before anything is written.
 */
export class AccountService {
  constructor(
    private readonly box: SecretBox,
    private readonly logger: Logger,
    private readonly outbox: WebhookOutbox,
    /** Whether an identity that matches no user makes a new one (config.registrationOpen). */
    readonly registrationOpen: boolean,
  ) {}

  /**
   * Runs inside the caller's transaction (retryingRaces): a concurrent first login surfaces as a
   * unique violation at flush, a concurrent merge or deletion as a LostRace; the retry finds the
   * new state.
   */
  async findOrRegister(em: EntityManager, identity: WeChatIdentity, now: Date): Promise<FoundUser> {
    const accessCode = identity.accessCode ? this.box.seal(identity.accessCode) : undefined;
    // The user this login adds to is locked first, then read again: a merge or deletion that
    // moved this identity or ended its user meanwhile is a lost race, retried (LostRace).
    const ownerId = await LifecycleRepository.methodOwner(em, identity.appId, identity.openId);
    if (ownerId) await this.lockLive(em, ownerId);
    const method = ownerId
      ? await em.findOne(
          UserLoginMethod,
          { appId: identity.appId, openId: identity.openId },
          { populate: ['user'] },
        )
      : null;
    if (ownerId && (method?.user as User | undefined)?.id !== ownerId) throw new LostRace();
    if (method) {
      method.lastLoginAt = now;
      if (accessCode) method.accessCode = accessCode;
      if (identity.profile) method.profileRefreshedAt = now;
      // The method keeps what WeChat last said of this identity, even when another user holds it
      // (a later merge finds it there); user.union_id, unique, is what says who holds it.
      const unionId = identity.unionId ?? method.unionId;
      if (identity.unionId) method.unionId = identity.unionId;
      const user = method.user as User;
      let otherAccountExists = false;
      if (unionId && user.unionId !== unionId) {
        otherAccountExists = await this.heldByAnother(em, user, unionId);
        // A user first seen through an unbound app learns its unionId, unless another user holds it.
        if (!otherAccountExists && identity.unionId && !user.unionId) user.unionId = identity.unionId;
      }
      const changed = this.applyWeChatData(user, identity);
      this.emitUpdated(em, user, changed, now);
      return { user, isNewUser: false, otherAccountExists, changed };
    }

    // A new identity joins the user who holds its unionId, else the imported user of the phone
    // number WeChat verified for it (docs/import.md), else it is a new user.
    const holderId = identity.unionId ? await LifecycleRepository.unionHolder(em, identity.unionId) : null;
    const importedId = holderId ? null : await this.importedMatch(em, identity);
    const joinedId = holderId ?? importedId;
    if (joinedId) await this.lockLive(em, joinedId);
    let user = holderId ? await em.findOne(User, { id: holderId, unionId: identity.unionId! }) : null;
    // Asked again under the lock: another identity of this app may have joined them meanwhile.
    if (importedId && (await this.importedMatch(em, identity)) === importedId) {
      user = await em.findOne(User, importedId);
    }
    if (joinedId && !user) throw new LostRace();
    const isNewUser = !user;
    if (!user) {
      if (!this.registrationOpen) throw new RegistrationClosedError();
      user = em.create(User, { unionId: identity.unionId ?? null, createdAt: now, updatedAt: now });
    }
    // An imported user learns the unionId of the identity that joined them (nobody holds it).
    if (user.unionId === null && identity.unionId) user.unionId = identity.unionId;
    const changed = this.applyWeChatData(user, identity);
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
    // A new user, or an app of the person's Open Platform account linked to them by its unionId.
    const loginMethod = { id: created.id, kind: created.kind, appId: created.appId };
    this.outbox.emit(
      em,
      isNewUser ? 'user.created' : 'login_method.linked',
      { userId: user.id, loginMethod },
      now,
    );
    if (!isNewUser) this.emitUpdated(em, user, changed, now);
    const byImportedPhone = importedId !== null && user.id === importedId;
    return { user, isNewUser, otherAccountExists: false, changed: isNewUser ? [] : changed, byImportedPhone };
  }

  /** The imported user this new identity joins by its verified phone number, if any (importedByPhone). */
  private importedMatch(em: EntityManager, identity: WeChatIdentity): Promise<string | null> {
    if (!identity.phoneNumber) return Promise.resolve(null);
    return UserRepository.importedByPhone(em, identity.phoneNumber, identity.appId, identity.unionId);
  }

  /**
   * Locks a user this login adds to; a tombstone (merged or deleted meanwhile) is a lost race, a
   * disabled user USER_DISABLED (the lock waits for a disable under way, and reads its outcome).
   */
  private async lockLive(em: EntityManager, userId: string): Promise<void> {
    const [row] = await LifecycleRepository.lockUsers(em, userId);
    if (!row || row.deletedAt) throw new LostRace();
    if (row.disabledAt) throw new UserDisabledError(userId);
  }

  /**
   * WeChat's profile and phone number onto the user; the fields that changed. The profile replaces
   * the stored one, unless the person chose theirs (updateProfile, `profileChosenAt`): then it only
   * fills a field that is still empty.
   */
  private applyWeChatData(user: User, identity: WeChatIdentity): ChangedField[] {
    const { profile, phoneNumber } = identity;
    const open = (current: string | null) => user.profileChosenAt === null || current === null;
    const changed: ChangedField[] = [];
    if (profile?.nickname && open(user.nickname) && user.nickname !== profile.nickname) {
      user.nickname = profile.nickname;
      changed.push('nickname');
    }
    if (profile?.avatarUrl && open(user.avatarUrl) && user.avatarUrl !== profile.avatarUrl) {
      user.avatarUrl = profile.avatarUrl;
      changed.push('avatarUrl');
    }
    if (phoneNumber && user.phoneNumber !== phoneNumber) {
      user.phoneNumber = phoneNumber;
      changed.push('phoneNumber');
    }
    return changed;
  }

  /**
   * `user.updated` for what a login changed on an existing user, as updateProfile and
   * bindWechatPhoneNumber send it: the new nickname and avatar, the phone number only named.
   */
  private emitUpdated(em: EntityManager, user: User, changed: ChangedField[], now: Date): void {
    if (changed.length === 0) return;
    const values = {
      ...(changed.includes('nickname') && { nickname: user.nickname }),
      ...(changed.includes('avatarUrl') && { avatarUrl: user.avatarUrl }),
    };
    this.outbox.emit(em, 'user.updated', { userId: user.id, changed, ...values }, now);
  }

  /**
   * Whether a user other than `user` holds this unionId. Nothing is merged: the person may merge
   * by linking. A concurrent claim of the same unionId by two users fails one of them at flush
   * (unique violation); its retry finds the other one here.
   */
  private async heldByAnother(em: EntityManager, user: User, unionId: string): Promise<boolean> {
    const held = (await em.count(User, { unionId, id: { $ne: user.id } })) > 0;
    if (held) {
      this.logger.info({ userId: user.id }, 'unionid held by another user: not merged (otherAccountExists)');
    }
    return held;
  }
}
