import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/** The public half of an ES256 key as published in the JWKS (RFC 7517). */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/**
 * An ES256 key that signs access tokens. The newest key without `retiredAt` is current; a retired
 * key stays published in the JWKS until every token it may have signed has expired
 * (docs/architecture.md, "Signing keys"). The private half is sealed with AUTH_SECRET.
 */
@Entity({ tableName: 'signing_key' })
export class SigningKey {
  /** The JWK thumbprint (RFC 7638) of the public key: the tokens' `kid`. */
  @PrimaryKey({ type: 'text' })
  kid!: string;

  @Property({ type: 'json' })
  publicJwk!: PublicJwk;

  /** The private JWK, sealed by SecretBox (`v1.…`); never leaves the server, never logged. */
  @Property({ type: 'text' })
  privateKey!: string;

  /** When it became current. */
  @Property({ type: 'datetime' })
  @Index({ name: 'signing_key_created_at_index' })
  createdAt!: Date;

  /** When a newer key replaced it; null while current. */
  @Property({ type: 'datetime', nullable: true })
  retiredAt: Date | null = null;
}
