import type { EntityManager } from '@mikro-orm/postgresql';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { deriveKey } from '../crypto/keys.js';
import type { CurrentKey, SigningKeys } from '../keys/signing-keys.js';
import { OidcAccounts } from './accounts.js';
import { errorPage, logoutPage, loggedOutPage } from './pages.js';
import { oidcAdapter } from './pg-adapter.js';

/** The `oidc-provider` module: loaded only when OIDC_CLIENTS is set (nothing to pay otherwise). */
export type OidcProviderModule = typeof import('oidc-provider');

/**
 * Loads `oidc-provider`. Its 9.x line prints, on import, that its authors support Node 22 and later;
 * this server runs it on Node 20 (>= 20.19), where its whole flow is tested here: the line becomes
 * one info line of our log instead of a bare console warning.
 */
export async function loadOidcProviderModule(logger: Logger): Promise<OidcProviderModule> {
  /* eslint-disable no-console -- the one console line of a dependency, caught while it loads */
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) {
      logger.info({ node: process.version }, 'oidc: oidc-provider 9 prefers Node 22; running on this Node');
      return;
    }
    warn(...args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
  /* eslint-enable no-console */
}

/** Where the provider is mounted, below PUBLIC_URL's path. */
export const OIDC_PATH = '/oidc';

/** The scopes a relying party may ask for, and the claims each gives. */
const CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'nickname', 'picture'],
  phone: ['phone_number', 'phone_number_verified'],
};

/** An OIDC_CLIENTS entry, as the config holds it. */
type OidcClient = NonNullable<Config['oidc']>['clients'][number];

/** The provider and its request handler (Koa's, composed once). */
export interface BuiltProvider {
  provider: Provider;
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/** A redirect URI with a private-use scheme is a native app's; anything else a web client's. */
const isNative = (client: OidcClient) => client.redirectUris.some((uri) => !/^https?:/.test(uri));

/** The client metadata `oidc-provider` takes, from an OIDC_CLIENTS entry. */
function clientMetadata(client: OidcClient): ClientMetadata {
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.clientSecret === undefined
      ? { token_endpoint_auth_method: 'none' }
      : { client_secret: client.clientSecret, token_endpoint_auth_method: client.tokenEndpointAuthMethod }),
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    application_type: isNative(client) ? 'native' : 'web',
    id_token_signed_response_alg: 'ES256',
  };
}

/** Keys for the provider's signed cookies: AUTH_SECRET's first (it signs), then the previous ones. */
function cookieKeys(config: Config): string[] {
  return [config.authSecret, ...(config.authSecretPrevious ?? [])].map((secret) =>
    deriveKey(secret, 'oidc-cookies').toString('base64url'),
  );
}

export interface OidcProviderDeps {
  config: Config;
  /** The ORM's global entity manager: the adapter and account reads borrow its pool. */
  em: EntityManager;
  signingKeys: SigningKeys;
  logger: Logger;
}

/**
 * panva's `oidc-provider`, configured from OIDC_CLIENTS (docs/oidc.md): authorization code flow
 * only, PKCE S256 (required of public clients), rotating refresh tokens with offline_access,
 * userinfo and RP-initiated logout; ID tokens signed with the current key of the server's own
 * signing keys. The provider holds the current private key (it signs) and the other published ones
 * (they verify): when the published keys change, the next request builds a new provider with them
 * (its state is all in PostgreSQL).
 */
export class OidcProvider {
  private built: BuiltProvider | undefined;
  private version: string | undefined;
  private building: Promise<BuiltProvider> | undefined;
  readonly accounts: OidcAccounts;
  readonly clients: ReadonlyMap<string, OidcClient>;
  /** PUBLIC_URL's path ('' at the root): what comes before /oidc in every URL the provider writes. */
  readonly basePath: string;

  constructor(
    private readonly module: OidcProviderModule,
    private readonly deps: OidcProviderDeps,
  ) {
    this.accounts = new OidcAccounts(deps.em);
    this.clients = new Map((deps.config.oidc?.clients ?? []).map((client) => [client.clientId, client]));
    this.basePath = new URL(deps.config.publicUrl).pathname.replace(/\/+$/, '');
  }

  /**
   * The provider signing with the current key and verifying with every published one (an
   * id_token_hint of an earlier key); built again when the published keys change.
   */
  async current(): Promise<BuiltProvider> {
    const { signingKeys } = this.deps;
    // Reloads the keys first when that is overdue, as every signature does.
    await signingKeys.signingKey();
    const version = signingKeys.publishedVersion();
    if (this.built && this.version === version) return this.built;
    this.building ??= signingKeys
      .openPublished()
      .then(({ current, others }) => {
        const provider = this.build(current, others);
        this.built = { provider, handler: provider.callback() as BuiltProvider['handler'] };
        this.version = version;
        return this.built;
      })
      .finally(() => {
        this.building = undefined;
      });
    return this.building;
  }

  private build(key: CurrentKey, verifyOnly: CurrentKey[]): Provider {
    const { config, em, logger } = this.deps;
    const clients = [...this.clients.values()];
    // The current key signs (first, and the only one without key_ops); the others only verify:
    // key_ops ['verify'] keeps the provider from choosing them to sign.
    const jwk = (k: CurrentKey, ops?: string[]) => ({
      ...k.key.export({ format: 'jwk' }),
      kid: k.kid,
      alg: 'ES256',
      use: 'sig',
      ...(ops && { key_ops: ops }),
    });
    const firstParty = (clientId: string | undefined) =>
      clientId !== undefined && this.clients.get(clientId)?.firstParty === true;
    const origins = new Map(
      clients.map((client) => [
        client.clientId,
        new Set(client.redirectUris.filter((uri) => /^https?:/.test(uri)).map((uri) => new URL(uri).origin)),
      ]),
    );

    const configuration: Configuration = {
      adapter: oidcAdapter(em),
      clients: clients.map(clientMetadata),
      clientDefaults: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
        token_endpoint_auth_method: 'client_secret_basic',
      },
      jwks: { keys: [jwk(key), ...verifyOnly.map((k) => jwk(k, ['verify']))] },
      cookies: {
        keys: cookieKeys(config),
        long: { signed: true, httpOnly: true, sameSite: 'lax' },
        short: { signed: true, httpOnly: true, sameSite: 'lax' },
      },
      claims: CLAIMS,
      scopes: ['openid', 'offline_access', ...Object.keys(CLAIMS).filter((scope) => scope !== 'openid')],
      // The claims of the scopes granted go in the ID token too: most relying parties read the
      // person's name and picture from it and never call userinfo.
      conformIdTokenClaims: false,
      responseTypes: ['code'],
      // An explicit redirect_uri on every request, even for a client with one.
      allowOmittingSingleRegisteredRedirectUri: false,
      enabledJWA: {
        idTokenSigningAlgValues: ['ES256'],
        userinfoSigningAlgValues: ['ES256'],
        requestObjectSigningAlgValues: ['ES256'],
        authorizationSigningAlgValues: ['ES256'],
      },
      features: {
        devInteractions: { enabled: false },
        revocation: { enabled: true },
        userinfo: { enabled: true },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => {
            ctx.type = 'html';
            ctx.body = logoutPage(ctx, form, clientName(ctx));
          },
          postLogoutSuccessSource: async (ctx) => {
            ctx.type = 'html';
            ctx.body = loggedOutPage(ctx, clientName(ctx));
          },
        },
      },
      pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
      // Each refresh token is used once: the next one comes with the new access token.
      rotateRefreshToken: () => true,
      ttl: {
        AccessToken: config.session.accessTokenTtlSeconds,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 3600,
        Grant: config.session.refreshTokenTtlSeconds,
        RefreshToken: config.session.refreshTokenTtlSeconds,
        // A browser session nobody signed in to (a logout request from a stranger writes one)
        // lives minutes, not the two weeks of a signed-in one.
        Session: (_ctx, session) => (session.accountId ? 14 * 24 * 3600 : 600),
      },
      findAccount: async (ctx, sub) => {
        const account = await this.accounts.find(sub);
        // The provider's browser session names someone who can no longer sign in (disabled,
        // deleted, merged away): it is forgotten, so the next authorization asks for a sign-in.
        const session = ctx.oidc?.session;
        if (!account && session?.accountId === sub) {
          // (The session's proxy refuses an empty accountId; deleting it is what a fresh one has.)
          delete (session as { accountId?: string }).accountId;
          session.authorizations = {};
          session.resetIdentifier();
        }
        return account;
      },
      interactions: {
        url: (_ctx, interaction) => `${this.basePath}${OIDC_PATH}/interaction/${interaction.uid}`,
      },
      // A first-party client needs no consent: its grant is made (or widened) here.
      loadExistingGrant: async (ctx) => {
        const { oidc } = ctx;
        const clientId = oidc.client?.clientId;
        const grantId = oidc.result?.consent?.grantId ?? (clientId && oidc.session?.grantIdFor(clientId));
        const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
        const accountId = oidc.session?.accountId;
        if (!firstParty(clientId) || !accountId) return existing;
        // Only a grant of this person and client is widened (the provider refuses any other).
        const mine = existing?.accountId === accountId && existing.clientId === clientId;
        if (existing && !mine) return existing;
        const grant = existing ?? new oidc.provider.Grant({ clientId, accountId });
        const scope = typeof oidc.params?.scope === 'string' ? oidc.params.scope : 'openid';
        grant.addOIDCScope(scope);
        await grant.save();
        return grant;
      },
      // A browser app may call the token and userinfo endpoints from its own redirect URIs' origins.
      clientBasedCORS: (_ctx, origin, client) => origins.get(client.clientId)?.has(origin) === true,
      renderError: async (ctx, out) => {
        ctx.type = 'html';
        ctx.body = errorPage(ctx, out);
      },
    };
    const provider = new this.module.Provider(config.publicUrl, configuration);
    // Koa reads the host, scheme and client address from the X-Forwarded-* headers the mount sets
    // from PUBLIC_URL and Fastify's own reading of TRUST_PROXY (src/server/oidc.ts).
    provider.proxy = true;
    provider.on('server_error', (_ctx: KoaContextWithOIDC, error: Error) =>
      logger.error({ err: error }, 'oidc: server error'),
    );
    return provider;
  }
}

/** The relying party's name for the logout pages, if the request named one. */
function clientName(ctx: KoaContextWithOIDC): string | undefined {
  return ctx.oidc.client?.clientName ?? undefined;
}
