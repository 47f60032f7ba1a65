import type { EntityManager } from '@mikro-orm/postgresql';
import type { RequestClient } from '../sessions/session-device.js';
import type { AccountLifecycle } from '../identity/account-lifecycle.service.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { User } from '../identity/user.entity.js';
import type { LinkFields } from './platform.js';
import type { SignIn } from './sign-in.js';

/** linkWechatIdentity's input: the fields of the login of that kind, and whether to merge. */
export interface LinkInput extends LinkFields {
  kind: LoginMethodKind;
  /** Merge the user that holds this identity into the signed-in one (else IDENTITY_IN_USE). */
  merge?: boolean | null;
}

export interface LinkDeps {
  signIn: SignIn;
  lifecycle: AccountLifecycle;
  /** Told how each link ended, by the kind linked: undefined for success, else what it threw. */
  onLink: (kind: LoginMethodKind, error?: unknown) => void;
}

/**
 * Adds a WeChat identity to the signed-in user: the code is exchanged exactly as the login of its
 * kind would (SignIn.identify, through the same table of platforms: a website or official account
 * state checked and spent first, PKCE included), then AccountLifecycle.link attaches it, merging
 * its holder when asked. Counts as a login attempt against the client IP's and the identity's limits.
 */
export class LinkWechatIdentity {
  constructor(private readonly deps: LinkDeps) {}

  async link(em: EntityManager, userId: string, input: LinkInput, client: RequestClient): Promise<User> {
    try {
      const identity = await this.deps.signIn.identify(em, input.kind, input, client.ip);
      const source = { actor: { type: 'user', id: userId }, client } as const;
      const user = await this.deps.lifecycle.link(em, userId, identity, input.merge === true, source);
      this.deps.onLink(input.kind);
      return user;
    } catch (error) {
      this.deps.onLink(input.kind, error);
      throw error;
    }
  }
}
