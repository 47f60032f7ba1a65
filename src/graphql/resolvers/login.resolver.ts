import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../context.js';
import { WechatAppLoginInput, WechatMiniLoginInput, WechatWebLoginInput } from '../inputs/login.input.js';
import { AuthPayload, WechatAuthorizeUrl } from '../types/auth.type.js';
import { toAuthPayload } from '../types/mappers.js';

@Resolver()
export class LoginResolver {
  @Query(() => WechatAuthorizeUrl, {
    description: 'The WeChat QR login URL for a website, and its state (valid once, for 10 minutes).',
  })
  wechatWebAuthorizeUrl(
    @Arg('redirectUri', () => String) redirectUri: string,
    @Arg('codeChallenge', () => String, {
      nullable: true,
      description:
        'PKCE: base64url(SHA-256(codeVerifier)), 43 characters. The state is then accepted only with that ' +
        'codeVerifier, so a login link someone else started cannot finish in this browser.',
    })
    codeChallenge: string | null | undefined,
    @Ctx() ctx: Context,
  ): WechatAuthorizeUrl {
    return ctx.services.webLogin.authorizeUrl(redirectUri, codeChallenge);
  }

  @Mutation(() => AuthPayload, {
    description: 'Website QR login: exchanges the code WeChat redirected back with.',
  })
  async wechatWebLogin(
    @Arg('input', () => WechatWebLoginInput) input: WechatWebLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(await ctx.services.webLogin.login(ctx.em, input, ctx.clientIp));
  }

  @Mutation(() => AuthPayload, { description: 'Native app login with the code from the WeChat SDK.' })
  async wechatAppLogin(
    @Arg('input', () => WechatAppLoginInput) input: WechatAppLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(await ctx.services.appLogin.login(ctx.em, input, ctx.clientIp));
  }

  @Mutation(() => AuthPayload, { description: 'Mini program login with the wx.login code.' })
  async wechatMiniLogin(
    @Arg('input', () => WechatMiniLoginInput) input: WechatMiniLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(await ctx.services.miniLogin.login(ctx.em, input, ctx.clientIp));
  }
}
