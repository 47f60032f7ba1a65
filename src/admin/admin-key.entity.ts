import { Entity, PrimaryKey, Property, Unique } from '@mikro-orm/core';

/** What an admin API key may do: read (queries) or write (queries and mutations). */
export type AdminScope = 'read' | 'write';

/**
 * An admin API key (`adm_…`, docs/admin.md): only its SHA-256 is stored; the key itself is shown
 * once, by `npm run admin -- keys:create`. Revoked keys stay listed with their revocation time.
 */
@Entity({ tableName: 'admin_key' })
export class AdminKey {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  /** Who holds it (a person, a service), as its creator named it. */
  @Property({ type: 'text' })
  name!: string;

  @Property({ type: 'text' })
  scope!: AdminScope;

  /** SHA-256 of the key (base64url). */
  @Property({ type: 'text' })
  @Unique({ name: 'admin_key_key_hash_unique' })
  keyHash!: string;

  @Property({ type: 'datetime' })
  createdAt!: Date;

  /** When it was last used, to the minute (not written on every call). */
  @Property({ type: 'datetime', nullable: true })
  lastUsedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;
}
