import { Field, ObjectType } from 'type-graphql';
import { UserType } from './user.type.js';

@ObjectType('AuthPayload', { description: 'Our own session, after a login or a refresh.' })
export class AuthPayload {
  @Field(() => String, { description: 'JWT for "Authorization: Bearer <accessToken>".' })
  accessToken!: string;

  @Field(() => String, { description: 'Opaque; single use: refreshSession returns a new one.' })
  refreshToken!: string;

  @Field(() => Date, { description: 'When the access token expires.' })
  expiresAt!: Date;

  @Field(() => Boolean, { description: 'True only when this login registered the user.' })
  isNewUser!: boolean;

  @Field(() => Boolean, {
    description:
      'Another user holds this person’s unionid (an app bound to the Open Platform after the person ' +
      'used it, two unbound apps): nothing was merged; offer to merge the accounts by linking.',
  })
  otherAccountExists!: boolean;

  @Field(() => UserType)
  user!: UserType;
}

@ObjectType('WechatAuthorizeUrl')
export class WechatAuthorizeUrl {
  @Field(() => String, { description: 'Send the browser here (WeChat’s QR login page).' })
  url!: string;

  @Field(() => String, {
    description: 'Keep it (e.g. sessionStorage) and compare it when the browser comes back.',
  })
  state!: string;
}
