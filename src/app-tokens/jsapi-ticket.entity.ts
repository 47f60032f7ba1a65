import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * The current JS-SDK ticket (`jsapi_ticket`) of one official account, shared by every instance.
 * Written only by JsapiTicketRepository, under an advisory lock per appid, by the database's clock.
 */
@Entity({ tableName: 'jsapi_ticket' })
export class JsapiTicket {
  @PrimaryKey({ type: 'text' })
  appId!: string;

  /** The ticket, sealed by SecretBox (`v1.…`): never stored in clear, never logged. */
  @Property({ type: 'text' })
  ticket!: string;

  /** When WeChat said it expires, counted from before the fetch (so a little early). */
  @Property({ type: 'datetime' })
  expiresAt!: Date;

  @Property({ type: 'datetime' })
  fetchedAt!: Date;
}
