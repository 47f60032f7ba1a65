import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { LoginMethodKind } from '../../identity/user-login-method.entity.js';
import { MAX_LISTED_SESSIONS } from '../../sessions/session.repository.js';
import { SessionType } from './session.type.js';

registerEnumType(LoginMethodKind, {
  name: 'LoginMethodKind',
  description: 'Which WeChat client a login method belongs to.',
  valuesConfig: {
    WECHAT_WEB: { description: 'Website QR-code login (Open Platform website app)' },
    WECHAT_APP: { description: 'Native mobile app login (Open Platform mobile app)' },
    WECHAT_MINI: { description: 'WeChat Mini Program login (wx.login)' },
    WECHAT_OFFICIAL_ACCOUNT: {
      description: 'Official account web authorization (a web page opened inside WeChat)',
    },
  },
});

@ObjectType('LoginMethod', { description: 'A WeChat identity linked to a user.' })
export class LoginMethodType {
  @Field(() => LoginMethodKind)
  kind!: LoginMethodKind;

  @Field(() => String, { description: 'The WeChat appid this identity belongs to.' })
  appId!: string;

  @Field(() => String, { description: "WeChat's openid of this person in that app." })
  openId!: string;

  @Field(() => String, {
    nullable: true,
    description: 'Present when the app is bound to an Open Platform account.',
  })
  unionId!: string | null;

  @Field(() => Date)
  lastLoginAt!: Date;
}

@ObjectType('User', {
  description: 'A person: one account across web, app, mini program and official account pages.',
})
export class UserType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  nickname!: string | null;

  @Field(() => String, { nullable: true })
  avatarUrl!: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'International (E.164) form, e.g. "+8613800138000", from bindWechatPhoneNumber or a mini program ' +
      'login with phoneCode. Only ever given to the user themselves (me, their own login, refresh or ' +
      'bind); null otherwise.',
  })
  phoneNumber!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => [LoginMethodType], { description: 'Every WeChat identity linked to this user.' })
  loginMethods?: LoginMethodType[];

  @Field(() => [SessionType], {
    description:
      `This user’s live sessions (signed-in browsers and devices), most recently used first, at most ` +
      `${MAX_LISTED_SESSIONS}. Only ever given to the user themselves (me, their own login, refresh, ` +
      'link or profile change): UNAUTHENTICATED for anyone else.',
  })
  sessions?: SessionType[];

  /** Not a field: the session the user themselves reads this through (`current`); null for anyone else. */
  viewerSession!: string | null;
}
