import { isIP } from 'node:net';
import { z } from 'zod';
import { commaList, refuse } from './env.js';

/** proxy-addr's names for address ranges, which Fastify's trustProxy takes beside addresses and CIDRs. */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(value: string): boolean {
  const [address, bits, extra] = value.split('/');
  const version = isIP(address ?? '');
  if (version === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY, in Fastify's own terms: `false` (the socket's address is the client), a number of
 * proxy hops in front of us, or the proxies' addresses/CIDRs. `true` would believe an
 * X-Forwarded-For the client writes itself, so it is refused with the alternatives.
 */
export function trustProxy(ctx: z.RefinementCtx, raw: string): false | number | string[] {
  if (raw === 'false' || raw === '0') return false;
  if (raw === 'true') {
    return refuse(
      ctx,
      'TRUST_PROXY',
      'true would trust an X-Forwarded-For the client writes: give the number of proxies in front ' +
        '(e.g. 1) or their addresses/CIDRs (e.g. 10.0.0.0/8,loopback)',
    );
  }
  if (/^\d+$/.test(raw)) return Number(raw);
  const entries = commaList(raw) ?? [];
  const bad = entries.find((e) => !PROXY_RANGES.has(e) && !isAddressOrCidr(e));
  if (bad !== undefined || entries.length === 0) {
    return refuse(
      ctx,
      'TRUST_PROXY',
      `"${bad ?? raw}" is not false, a hop count, an IP address, a CIDR or loopback/linklocal/uniquelocal`,
    );
  }
  return entries;
}

/** CORS_ORIGINS: exact origins (`scheme://host[:port]`, nothing after it). */
export function corsOrigins(ctx: z.RefinementCtx, raw: string | undefined): string[] | undefined {
  const origins = commaList(raw);
  if (origins === undefined) return undefined;
  const bad = origins.find(
    (o) => !URL.canParse(o) || !/^https?:$/.test(new URL(o).protocol) || new URL(o).origin !== o,
  );
  if (bad !== undefined) {
    return refuse(ctx, 'CORS_ORIGINS', `"${bad}" is not an origin like https://app.example.com (no path)`);
  }
  return origins;
}

/**
 * https, or plain http to this machine: what production may talk to WeChat over (a local egress
 * proxy), and the public URL it may announce (a TLS-terminating proxy on the same host).
 */
export function isHttpsOrLoopback(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return (
    protocol === 'https:' ||
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127(\.\d{1,3}){3}$/.test(hostname)
  );
}
