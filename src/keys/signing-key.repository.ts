import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../db/sql.js';
import type { PublicJwk } from './signing-key.entity.js';

/** A signing key as read: `current` is the newest key not retired; `ageSeconds` by the database's clock. */
export interface SigningKeyRow {
  kid: string;
  public_jwk: PublicJwk;
  private_key: string;
  current: boolean;
  age_seconds: number;
}

/** What a rotation writes: the new key, its private half already sealed. */
export interface NewSigningKey {
  kid: string;
  publicJwk: PublicJwk;
  sealedPrivateKey: string;
}

/** Serialises rotations across every instance and `npm run keys:rotate` (any constant: ours). */
const ROTATION_LOCK = 0x5167_4b65; // "QgKe"

/** Keys still published: current, or retired less than `window` seconds ago. Newest first. */
const PUBLISHED = sql<'window', SigningKeyRow>(`
  select kid, public_jwk, private_key, retired_at is null as current,
         extract(epoch from now() - created_at)::float8 as age_seconds
  from signing_key
  where retired_at is null or retired_at > now() - make_interval(secs => :window)
  order by retired_at is null desc, created_at desc`);

const CURRENT = sql<never, SigningKeyRow>(`
  select kid, public_jwk, private_key, true as current,
         extract(epoch from now() - created_at)::float8 as age_seconds
  from signing_key where retired_at is null order by created_at desc limit 1`);

const LOCK = sql<'lock'>(`select pg_advisory_xact_lock(:lock)`);
const RETIRE = sql<never>(`update signing_key set retired_at = now() where retired_at is null`);
const INSERT = sql<'kid' | 'jwk' | 'sealed'>(`
  insert into signing_key (kid, public_jwk, private_key, created_at, retired_at)
  values (:kid, :jwk::jsonb, :sealed, now(), null)`);
const FORGET = sql<'window'>(
  `delete from signing_key where retired_at < now() - make_interval(secs => :window)`,
);

/** The signing_key table: reads, and the one way a key becomes current. */
export const SigningKeyRepository = {
  async published(em: EntityManager, windowSeconds: number): Promise<SigningKeyRow[]> {
    return execute(em, PUBLISHED, { window: windowSeconds });
  },

  /**
   * Makes a new key current when `due(current)` still holds under a lock every instance takes,
   * so concurrent callers rotate once: the others see the new key and do nothing. Retires the
   * old key, and forgets keys retired more than `windowSeconds` ago (their tokens have expired).
   * Returns the new kid, or null when the check no longer held.
   */
  async rotateIf(
    em: EntityManager,
    due: (current: SigningKeyRow | undefined) => boolean,
    makeKey: () => Promise<NewSigningKey>,
    windowSeconds: number,
  ): Promise<string | null> {
    return em.transactional(async (tx) => {
      await execute(tx, LOCK, { lock: ROTATION_LOCK });
      const [current] = await execute(tx, CURRENT, {});
      if (!due(current)) return null;
      const key = await makeKey();
      await execute(tx, RETIRE, {});
      await execute(tx, INSERT, {
        kid: key.kid,
        jwk: JSON.stringify(key.publicJwk),
        sealed: key.sealedPrivateKey,
      });
      await execute(tx, FORGET, { window: windowSeconds });
      return key.kid;
    });
  },
};
