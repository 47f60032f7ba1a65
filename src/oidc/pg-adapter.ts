import type { EntityManager } from '@mikro-orm/postgresql';
import { sha256 } from '../crypto/keys.js';
import { execute, maybeOne, sql } from '../db/sql.js';

/** What the provider stores of one object (the fields this adapter indexes; the rest is kept as is). */
export interface OidcStored {
  grantId?: string;
  accountId?: string;
  uid?: string;
  userCode?: string;
  [key: string]: unknown;
}

/** The adapter interface of `oidc-provider` (one instance per model). */
export interface OidcAdapter {
  upsert(id: string, payload: OidcStored, expiresIn?: number): Promise<void>;
  find(id: string): Promise<OidcStored | undefined>;
  findByUid(uid: string): Promise<OidcStored | undefined>;
  findByUserCode(userCode: string): Promise<OidcStored | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

type Found = { payload: OidcStored; consumed: number | null };

/**
 * A second upsert of an object keeps its consumed mark: the provider saves a used refresh token
 * again (its rotation count), and it must stay used. Expiry in the database's clock, like every
 * other expiry here, so every instance agrees.
 */
const UPSERT = sql<'model' | 'id' | 'payload' | 'grantId' | 'accountId' | 'uid' | 'userCode' | 'expiresIn'>(`
insert into oidc_payload (model, id, payload, grant_id, account_id, uid, user_code, expires_at)
values (:model, :id, :payload::jsonb, :grantId, :accountId, :uid, :userCode,
        now() + make_interval(secs => :expiresIn::double precision))
on conflict (model, id) do update
   set payload = excluded.payload, grant_id = excluded.grant_id, account_id = excluded.account_id,
       uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`);

/**
 * Every OpenID Connect object of a user (their provider sessions, grants, codes and tokens): what
 * the statements that end all of a user's sessions also delete, in the same statement.
 */
export const END_USER_OIDC = `delete from oidc_payload where account_id = :userId::text`;

const LIVE = `(expires_at is null or expires_at > now())`;
const SELECT = `select payload, extract(epoch from consumed_at)::bigint as consumed from oidc_payload`;

const FIND = sql<'model' | 'id', Found>(`${SELECT} where model = :model and id = :id and ${LIVE}`);
const FIND_BY_UID = sql<'model' | 'uid', Found>(
  `${SELECT} where model = :model and uid = :uid and ${LIVE} order by expires_at desc nulls first limit 1`,
);
const FIND_BY_USER_CODE = sql<'model' | 'userCode', Found>(
  `${SELECT} where model = :model and user_code = :userCode and ${LIVE} order by expires_at desc nulls first limit 1`,
);

/** The first use is the one kept. */
const CONSUME = sql<'model' | 'id'>(`
update oidc_payload set consumed_at = now() where model = :model and id = :id and consumed_at is null`);

const DESTROY = sql<'model' | 'id'>(`delete from oidc_payload where model = :model and id = :id`);

/** Every object of the grant, whatever its model: its codes and tokens end together. */
const REVOKE_GRANT = sql<'grantId'>(`delete from oidc_payload where grant_id = :grantId`);

/**
 * Models whose id is the bearer value itself (an opaque token or code: whoever has it may use it).
 * They are kept as refresh tokens are elsewhere, by the SHA-256 of the value and without it: a
 * copy of the table (a backup, a read-only leak) holds no token anyone can present.
 */
const BEARER_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'BackchannelAuthenticationRequest',
  'InitialAccessToken',
  'RegistrationAccessToken',
]);

/**
 * Every id is stored as its SHA-256. Objects found by something else than their id keep it inside
 * the payload: sessions (by uid; the id is the provider's cookie) and device codes (by user code;
 * the device flow is not enabled).
 */
const keyOf = (id: string) => sha256(id);

/** The stored object as the provider wants it back: its id put back, `consumed` once it was used. */
function given(row: Found | undefined, id?: string): OidcStored | undefined {
  if (!row) return undefined;
  const payload =
    id !== undefined && row.payload.jti === undefined ? { ...row.payload, jti: id } : row.payload;
  return row.consumed === null ? payload : { ...payload, consumed: Number(row.consumed) };
}

/**
 * The provider's storage in PostgreSQL (table oidc_payload), through the ORM's pool: any instance
 * serves any step of a flow. `oidcAdapter(em)` is the class the provider's `adapter` option takes.
 */
export function oidcAdapter(em: EntityManager): new (model: string) => OidcAdapter {
  return class PgOidcAdapter implements OidcAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: OidcStored, expiresIn?: number): Promise<void> {
      const kept =
        BEARER_MODELS.has(this.model) && payload.jti === id ? { ...payload, jti: undefined } : payload;
      await execute(em, UPSERT, {
        model: this.model,
        id: keyOf(id),
        payload: JSON.stringify(kept),
        grantId: payload.grantId ?? null,
        accountId: typeof payload.accountId === 'string' ? payload.accountId : null,
        uid: payload.uid ?? null,
        userCode: payload.userCode ?? null,
        expiresIn: expiresIn ?? null,
      });
    }

    async find(id: string): Promise<OidcStored | undefined> {
      return given(await maybeOne(em, FIND, { model: this.model, id: keyOf(id) }), id);
    }

    async findByUid(uid: string): Promise<OidcStored | undefined> {
      return given(await maybeOne(em, FIND_BY_UID, { model: this.model, uid }));
    }

    async findByUserCode(userCode: string): Promise<OidcStored | undefined> {
      return given(await maybeOne(em, FIND_BY_USER_CODE, { model: this.model, userCode }));
    }

    async consume(id: string): Promise<void> {
      await execute(em, CONSUME, { model: this.model, id: keyOf(id) });
    }

    async destroy(id: string): Promise<void> {
      await execute(em, DESTROY, { model: this.model, id: keyOf(id) });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await execute(em, REVOKE_GRANT, { grantId });
    }
  };
}
