import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/** A web login state that has been used: a state is valid once, on any instance of the server. */
@Entity({ tableName: 'web_login_state' })
export class WebLoginState {
  @PrimaryKey({ type: 'text' })
  nonce!: string;

  /** When the state would have expired anyway; rows older than that can go. */
  @Property({ type: 'datetime' })
  @Index({ name: 'web_login_state_expires_at_index' })
  expiresAt!: Date;

  @Property({ type: 'datetime' })
  usedAt: Date = new Date();
}
