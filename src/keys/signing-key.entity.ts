import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/** The public half of an ES256 key as published in the JWKS (RFC 7517). */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/**
 * An ES256 key that signs access tokens from `createdAt` until `retiredAt`. A new key is published
 * in the JWKS before it begins signing (upcoming); a retired key stays published until every token
 * it may have signed has expired (docs/architecture.md, "Signing keys"). The private half is sealed
 * with AUTH_SECRET.
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

  /** When it begins signing: a few minutes after it was made, so every JWKS lists it first. */
  @Property({ type: 'datetime' })
  @Index({ name: 'signing_key_created_at_index' })
  createdAt!: Date;

  /** When the next key begins signing; null while no next key is planned. */
  @Property({ type: 'datetime', nullable: true })
  retiredAt: Date | null = null;
}
