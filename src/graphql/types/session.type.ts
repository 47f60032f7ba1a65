import { Field, ID, ObjectType } from 'type-graphql';
import { MAX_USER_AGENT_LENGTH } from '../../sessions/session-device.js';

@ObjectType('Session', {
  description:
    'One signed-in browser or device of the person: what revokeSession ends. What it keeps of the client ' +
    'is what its last login or refresh sent (docs/privacy.md).',
})
export class SessionType {
  @Field(() => ID)
  id!: string;

  @Field(() => Boolean, {
    description:
      'True for the session this answer is read through: the bearer’s, or the one this login or refresh ' +
      'opened or renewed.',
  })
  current!: boolean;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, {
    description: 'Its last login or refresh (refreshSession); requests in between do not count.',
  })
  lastUsedAt!: Date;

  @Field(() => String, {
    nullable: true,
    description: `The User-Agent of that login or refresh, without control characters, at most ${MAX_USER_AGENT_LENGTH} characters.`,
  })
  userAgent!: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'The network of that client’s address, never the address: IPv4 /24 ("203.0.113.0/24"), IPv6 /48 ' +
      '("2001:db8:1::/48").',
  })
  ipPrefix!: string | null;
}
