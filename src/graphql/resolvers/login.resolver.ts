import { Arg, Ctx, Mutation, Query, registerEnumType, Resolver } from 'type-graphql';
import { LoginMethodKind } from '../../identity/user-login-method.entity.js';
import type { OfficialAccountScope } from '../../logins/official-account.login.js';
import { requestClient, type Context } from '../context.js';
import {
  WechatAppLoginInput,
  WechatMiniLoginInput,
  WechatOfficialAccountLoginInput,
  WechatWebLoginInput,
} from '../inputs/login.input.js';
import { AuthPayload, WechatAuthorizeUrl } from '../types/auth.type.js';
import { toAuthPayload } from '../types/mappers.js';

/** The scope of an official account page login, as GraphQL names it. */
export const WechatOAuthScope = { BASE: 'BASE', USERINFO: 'USERINFO' } as const satisfies Record<
  OfficialAccountScope,
  OfficialAccountScope
>;

registerEnumType(WechatOAuthScope, {
  name: 'WechatOAuthScope',
  description: 'What an official account page asks WeChat for.',
  valuesConfig: {
    BASE: {
      description:
        'snsapi_base: silent (no consent page), the openid only: no unionId and no profile, so a person ' +
        'new to this official account becomes a new user even if they use your other apps',
    },
    USERINFO: {
      description:
        'snsapi_userinfo: a consent page the first time; the profile and the unionId (one account across your apps)',
    },
  },
});

const CODE_CHALLENGE = {
  nullable: true,
  description:
    'PKCE: base64url(SHA-256(codeVerifier)), 43 characters. The state is then accepted only with that ' +
    'codeVerifier, so a login link someone else started cannot finish in this browser.',
} as const;

const APP_ID = (what: string) =>
  ({
    nullable: true,
    description: `Which ${what}: required when this server has more than one, else optional.`,
  }) as const;

@Resolver()
export class LoginResolver {
  @Query(() => WechatAuthorizeUrl, {
    description: 'The WeChat QR login URL for a website, and its state (valid once, for 10 minutes).',
  })
  wechatWebAuthorizeUrl(
    @Arg('redirectUri', () => String) redirectUri: string,
    @Arg('codeChallenge', () => String, CODE_CHALLENGE) codeChallenge: string | null | undefined,
    @Arg('appId', () => String, APP_ID('website app')) appId: string | null | undefined,
    @Ctx() ctx: Context,
  ): WechatAuthorizeUrl {
    return ctx.services.webLogin.qrConnectUrl(redirectUri, codeChallenge, appId);
  }

  @Query(() => WechatAuthorizeUrl, {
    description:
      'The WeChat authorization URL for a web page opened inside WeChat (official account), and its state ' +
      '(valid once, for 10 minutes).',
  })
  wechatOfficialAccountAuthorizeUrl(
    @Arg('redirectUri', () => String) redirectUri: string,
    @Arg('scope', () => WechatOAuthScope, { nullable: true, defaultValue: 'USERINFO' })
    scope: OfficialAccountScope | null,
    @Arg('codeChallenge', () => String, CODE_CHALLENGE) codeChallenge: string | null | undefined,
    @Arg('appId', () => String, APP_ID('official account')) appId: string | null | undefined,
    @Ctx() ctx: Context,
  ): WechatAuthorizeUrl {
    return ctx.services.officialAccountLogin.pageAuthorizeUrl(
      redirectUri,
      scope ?? 'USERINFO',
      codeChallenge,
      appId,
    );
  }

  @Mutation(() => AuthPayload, {
    description: 'Website QR login: exchanges the code WeChat redirected back with.',
  })
  async wechatWebLogin(
    @Arg('input', () => WechatWebLoginInput) input: WechatWebLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(
      await ctx.services.signIn.login(ctx.em, LoginMethodKind.WECHAT_WEB, input, requestClient(ctx)),
    );
  }

  @Mutation(() => AuthPayload, { description: 'Native app login with the code from the WeChat SDK.' })
  async wechatAppLogin(
    @Arg('input', () => WechatAppLoginInput) input: WechatAppLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(
      await ctx.services.signIn.login(ctx.em, LoginMethodKind.WECHAT_APP, input, requestClient(ctx)),
    );
  }

  @Mutation(() => AuthPayload, { description: 'Mini program login with the wx.login code.' })
  async wechatMiniLogin(
    @Arg('input', () => WechatMiniLoginInput) input: WechatMiniLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(
      await ctx.services.signIn.login(ctx.em, LoginMethodKind.WECHAT_MINI, input, requestClient(ctx)),
    );
  }

  @Mutation(() => AuthPayload, {
    description:
      'Official account page login (a web page inside WeChat): exchanges the code WeChat redirected back with. ' +
      'A page opened in WeChat’s snapshot mode answers WECHAT_SNAPSHOT_USER.',
  })
  async wechatOfficialAccountLogin(
    @Arg('input', () => WechatOfficialAccountLoginInput) input: WechatOfficialAccountLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(
      await ctx.services.signIn.login(
        ctx.em,
        LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT,
        input,
        requestClient(ctx),
      ),
    );
  }
}
