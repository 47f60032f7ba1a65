import { Field, InputType } from 'type-graphql';
import { LoginMethodKind } from '../../identity/user-login-method.entity.js';

@InputType({
  description:
    'A WeChat identity to add to the signed-in account: the same fields as the login of that kind ' +
    '(state, redirectUri and codeVerifier only for WECHAT_WEB and WECHAT_OFFICIAL_ACCOUNT, whose state is required).',
})
export class LinkWechatIdentityInput {
  @Field(() => LoginMethodKind)
  kind!: LoginMethodKind;

  @Field(() => String, { description: 'The code, as the login of this kind takes it.' })
  code!: string;

  @Field(() => String, {
    nullable: true,
    description: 'WECHAT_WEB and WECHAT_OFFICIAL_ACCOUNT: the state of the authorize URL, as it came back.',
  })
  state?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The redirectUri the authorize URL was made for; when given, it must match the state.',
  })
  redirectUri?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'PKCE: required when the authorize URL was made with a codeChallenge, refused when it was not.',
  })
  codeVerifier?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Which app of the kind: required when this server has more than one, else optional.',
  })
  appId?: string | null;

  @Field(() => Boolean, {
    defaultValue: false,
    description:
      'When the identity belongs to another account: true merges that account into this one (its login ' +
      'methods move here, its sessions end, it is gone); false answers IDENTITY_IN_USE.',
  })
  merge!: boolean;
}
