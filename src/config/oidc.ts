import { z } from 'zod';
import { listProblem, refuse, type Env } from './env.js';
import { isHttpsOrLoopback } from './network.js';
import type { WechatApp } from './wechat-apps.js';

/** A client id: what relying parties are configured with; letters, digits and `._-`. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,100}$/;

const ClientSchema = z
  .object({
    clientId: z.string().regex(CLIENT_ID, 'clientId must be 1-100 letters, digits, ".", "_" or "-"'),
    clientSecret: z.string().min(32, 'clientSecret must be at least 32 characters').max(512).optional(),
    redirectUris: z.array(z.string()).min(1, 'redirectUris must list at least one URI'),
    postLogoutRedirectUris: z.array(z.string()).optional(),
    name: z.string().trim().min(1, 'name must not be empty').max(100, 'name must be at most 100 characters'),
    firstParty: z.boolean().optional(),
    tokenEndpointAuthMethod: z
      .enum(['client_secret_basic', 'client_secret_post'], {
        error: 'tokenEndpointAuthMethod must be client_secret_basic or client_secret_post',
      })
      .optional(),
  })
  .strict();

const ClientsSchema = z.array(ClientSchema, {
  error:
    'must be a JSON array of { clientId, clientSecret?, redirectUris, postLogoutRedirectUris?, name, firstParty?, tokenEndpointAuthMethod? }',
});

/** One relying party of the OpenID Connect provider, as the code reads it. */
export interface OidcClient {
  clientId: string;
  /** Undefined: a public client (a browser or native app), which must use PKCE. */
  clientSecret: string | undefined;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  name: string;
  /** The product's own app: no consent page. */
  firstParty: boolean;
  /** How a confidential client sends its secret to the token endpoint (HTTP Basic by default). */
  tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post';
}

/** Where WeChat's website and Official Account pages send a person back to the sign-in page. */
export const OIDC_WECHAT_CALLBACK_PATH = '/oidc/wechat/callback';

/** A redirect URI: absolute, no fragment; https, or http on this machine outside production. */
function uriProblem(uri: string, isProduction: boolean): string | undefined {
  if (!URL.canParse(uri)) return 'is not an absolute URI';
  const url = new URL(uri);
  if (url.hash) return 'must not have a fragment';
  if (/^https?:$/.test(url.protocol)) {
    if (isProduction && !isHttpsOrLoopback(uri)) return 'must be https:// when NODE_ENV=production';
    return undefined;
  }
  // A native app's private-use scheme (com.example.app:/callback), never javascript: or data:.
  if (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return undefined;
  return 'must be http(s):// or a native app scheme with a dot (com.example.app:/callback)';
}

/**
 * OIDC_CLIENTS: the relying parties of the OpenID Connect provider (docs/oidc.md); null when unset,
 * and then nothing of the provider is mounted. Problems name the entry and field, never a value
 * (an entry holds a client secret).
 */
export function oidcClients(env: Env, ctx: z.RefinementCtx, isProduction: boolean): OidcClient[] | null {
  const raw = env.OIDC_CLIENTS;
  if (raw === undefined || raw.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return refuse(ctx, 'OIDC_CLIENTS', 'is not valid JSON');
  }
  const parsed = ClientsSchema.safeParse(value);
  if (!parsed.success) {
    return refuse(ctx, 'OIDC_CLIENTS', listProblem(parsed.error.issues[0]!));
  }
  const clients = parsed.data;
  if (clients.length === 0) return refuse(ctx, 'OIDC_CLIENTS', 'must list at least one client');
  for (const [i, client] of clients.entries()) {
    if (client.tokenEndpointAuthMethod !== undefined && client.clientSecret === undefined) {
      return refuse(
        ctx,
        'OIDC_CLIENTS',
        `[${i}].tokenEndpointAuthMethod: only a client with a clientSecret has one`,
      );
    }
    if (clients.findIndex((other) => other.clientId === client.clientId) !== i) {
      return refuse(ctx, 'OIDC_CLIENTS', `[${i}].clientId: ${client.clientId} is listed twice`);
    }
    for (const field of ['redirectUris', 'postLogoutRedirectUris'] as const) {
      for (const [j, uri] of (client[field] ?? []).entries()) {
        const problem = uriProblem(uri, isProduction);
        if (problem) return refuse(ctx, 'OIDC_CLIENTS', `[${i}].${field}[${j}]: ${problem}`);
      }
    }
  }
  return clients.map((client) => ({
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    redirectUris: client.redirectUris,
    postLogoutRedirectUris: client.postLogoutRedirectUris ?? [],
    name: client.name,
    firstParty: client.firstParty ?? false,
    tokenEndpointAuthMethod: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
  }));
}

/**
 * With the provider on, its own WeChat callback is allowed for every website and Official Account
 * app whose redirect URIs are an allowlist: the sign-in page sends people to WeChat with it.
 */
export function withOidcCallback(apps: WechatApp[], publicUrl: string): WechatApp[] {
  const callback = `${publicUrl}${OIDC_WECHAT_CALLBACK_PATH}`;
  return apps.map((app) =>
    app.redirectUris === null ||
    !['web', 'official'].includes(app.kind) ||
    app.redirectUris.includes(callback)
      ? app
      : { ...app, redirectUris: [...app.redirectUris, callback] },
  );
}
