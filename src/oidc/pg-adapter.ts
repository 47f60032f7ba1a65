import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, maybeOne, sql } from '../db/sql.js';

/** What the provider stores of one object (the fields this adapter indexes; the rest is kept as is). */
export interface OidcStored {
  grantId?: string;
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
const UPSERT = sql<'model' | 'id' | 'payload' | 'grantId' | 'uid' | 'userCode' | 'expiresIn'>(`
insert into oidc_payload (model, id, payload, grant_id, uid, user_code, expires_at)
values (:model, :id, :payload::jsonb, :grantId, :uid, :userCode,
        now() + make_interval(secs => :expiresIn::double precision))
on conflict (model, id) do update
   set payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
       user_code = excluded.user_code, expires_at = excluded.expires_at`);

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

/** The stored object as the provider wants it back: `consumed` set once it was used. */
function given(row: Found | undefined): OidcStored | undefined {
  if (!row) return undefined;
  return row.consumed === null ? row.payload : { ...row.payload, consumed: Number(row.consumed) };
}

/**
 * The provider's storage in PostgreSQL (table oidc_payload), through the ORM's pool: any instance
 * serves any step of a flow. `oidcAdapter(em)` is the class the provider's `adapter` option takes.
 */
export function oidcAdapter(em: EntityManager): new (model: string) => OidcAdapter {
  return class PgOidcAdapter implements OidcAdapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: OidcStored, expiresIn?: number): Promise<void> {
      await execute(em, UPSERT, {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grantId: payload.grantId ?? null,
        uid: payload.uid ?? null,
        userCode: payload.userCode ?? null,
        expiresIn: expiresIn ?? null,
      });
    }

    async find(id: string): Promise<OidcStored | undefined> {
      return given(await maybeOne(em, FIND, { model: this.model, id }));
    }

    async findByUid(uid: string): Promise<OidcStored | undefined> {
      return given(await maybeOne(em, FIND_BY_UID, { model: this.model, uid }));
    }

    async findByUserCode(userCode: string): Promise<OidcStored | undefined> {
      return given(await maybeOne(em, FIND_BY_USER_CODE, { model: this.model, userCode }));
    }

    async consume(id: string): Promise<void> {
      await execute(em, CONSUME, { model: this.model, id });
    }

    async destroy(id: string): Promise<void> {
      await execute(em, DESTROY, { model: this.model, id });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await execute(em, REVOKE_GRANT, { grantId });
    }
  };
}
