import { Field, InputType } from 'type-graphql';

@InputType({ description: 'A website QR login: the code and state WeChat appended to the redirect URI.' })
export class WechatWebLoginInput {
  @Field(() => String)
  code!: string;

  @Field(() => String, { description: 'The state from wechatWebAuthorizeUrl, as it came back.' })
  state!: string;

  @Field(() => String, {
    nullable: true,
    description: 'The redirectUri the authorize URL was made for; when given, it must match the state.',
  })
  redirectUri?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'PKCE: the codeVerifier whose base64url(SHA-256) was the codeChallenge of wechatWebAuthorizeUrl. ' +
      'Required when the state was made with a codeChallenge, refused when it was not.',
  })
  codeVerifier?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Which website app (the one the authorize URL was made for): required when this server has more than one, else optional.',
  })
  appId?: string | null;
}

@InputType({ description: 'A native app login: the code from the WeChat SDK (SendAuth).' })
export class WechatAppLoginInput {
  @Field(() => String)
  code!: string;

  @Field(() => String, {
    nullable: true,
    description: 'Which mobile app: required when this server has more than one, else optional.',
  })
  appId?: string | null;
}

@InputType({
  description: 'A mini program login: the wx.login code, and optionally the signed or encrypted profile.',
})
export class WechatMiniLoginInput {
  @Field(() => String, { description: 'The code from wx.login().' })
  code!: string;

  @Field(() => String, { nullable: true, description: 'From wx.getUserProfile; comes with iv.' })
  encryptedData?: string | null;

  @Field(() => String, { nullable: true })
  iv?: string | null;

  @Field(() => String, { nullable: true, description: 'From wx.getUserProfile; comes with signature.' })
  rawData?: string | null;

  @Field(() => String, { nullable: true })
  signature?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Which mini program: required when this server has more than one, else optional.',
  })
  appId?: string | null;
}

@InputType({
  description:
    'An official account page login (a web page inside WeChat): the code and state WeChat appended to the redirect URI.',
})
export class WechatOfficialAccountLoginInput {
  @Field(() => String)
  code!: string;

  @Field(() => String, { description: 'The state from wechatOfficialAccountAuthorizeUrl, as it came back.' })
  state!: string;

  @Field(() => String, {
    nullable: true,
    description: 'The redirectUri the authorize URL was made for; when given, it must match the state.',
  })
  redirectUri?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'PKCE: the codeVerifier whose base64url(SHA-256) was the codeChallenge of wechatOfficialAccountAuthorizeUrl. ' +
      'Required when the state was made with a codeChallenge, refused when it was not.',
  })
  codeVerifier?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Which official account (the one the authorize URL was made for): required when this server has more than one, else optional.',
  })
  appId?: string | null;
}
