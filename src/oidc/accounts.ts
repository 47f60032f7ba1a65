import type { EntityManager } from '@mikro-orm/postgresql';
import type { Account, AccountClaims } from 'oidc-provider';
import { UUID } from '../db/base.entity.js';
import { maybeOne, sql } from '../db/sql.js';

interface AccountRow {
  id: string;
  nickname: string | null;
  avatarUrl: string | null;
  phoneNumber: string | null;
}

/** A user who may use the provider now: not deleted, not merged away, not disabled. */
const LIVE_USER = sql<'id', AccountRow>(`
select id, nickname, avatar_url as "avatarUrl", phone_number as "phoneNumber"
  from "user" where id = :id and deleted_at is null and disabled_at is null`);

/** The OIDC claims of a user (the provider keeps those of the scopes granted). */
export function claimsOf(row: AccountRow): AccountClaims {
  return {
    sub: row.id,
    ...(row.nickname !== null && { name: row.nickname, nickname: row.nickname }),
    ...(row.avatarUrl !== null && { picture: row.avatarUrl }),
    // Numbers come from WeChat's phone-number code: WeChat verified them.
    ...(row.phoneNumber !== null && { phone_number: row.phoneNumber, phone_number_verified: true }),
  };
}

/**
 * The provider's account model: `sub` is our user id. Every step that names an account (a code
 * exchanged, a refresh, userinfo, a sign-in page that finds a session) reads the user again, so a
 * user disabled, deleted or merged away since cannot finish a flow, refresh or read userinfo: their
 * grants end with their sessions.
 */
export class OidcAccounts {
  constructor(private readonly em: EntityManager) {}

  async find(sub: string): Promise<Account | undefined> {
    if (!UUID.test(sub)) return undefined;
    const row = await maybeOne(this.em, LIVE_USER, { id: sub });
    if (!row) return undefined;
    return { accountId: row.id, claims: () => claimsOf(row) };
  }
}
