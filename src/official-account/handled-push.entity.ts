import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * An Official Account push already handled, by WeChat's own key for an event (the follower's
 * openid and the event's CreateTime; events carry no MsgId): a retry or a replay of it changes
 * nothing. Written in the transaction of what the push did; housekeeping deletes rows after a day
 * (pushes older than 5 minutes are refused anyway).
 */
@Entity({ tableName: 'handled_push' })
export class HandledPush {
  @PrimaryKey({ type: 'text' })
  appId!: string;

  /** FromUserName: the follower's openid. */
  @PrimaryKey({ type: 'text' })
  openId!: string;

  /** CreateTime, epoch seconds, as WeChat wrote it. */
  @PrimaryKey({ type: 'bigint' })
  createTime!: string;

  @Property({ type: 'datetime' })
  @Index({ name: 'handled_push_handled_at_index' })
  handledAt!: Date;
}
