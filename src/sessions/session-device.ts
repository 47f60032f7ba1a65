import { ipPrefix } from '../rate-limits/client-key.js';

/** The client of a request that opens or refreshes a session, as the request tells it. */
export interface RequestClient {
  /** Its address (behind a proxy: per TRUST_PROXY). */
  ip: string;
  /** Its User-Agent header, as sent. */
  userAgent: string | undefined;
  /** The request's id (x-request-id: the caller's when sane, else ours), for the audit log. */
  requestId?: string;
}

/**
 * What a session keeps of the client it was last opened or refreshed from, for the person's list
 * of their sessions (docs/privacy.md): the user agent, cleaned, and the network of its address,
 * never the address itself.
 */
export interface SessionDevice {
  userAgent: string | null;
  ipPrefix: string | null;
}

/** Enough for any real browser's or app's user agent; the rest of a longer one is dropped. */
export const MAX_USER_AGENT_LENGTH = 256;

/**
 * The device a session (and an audit event) records for this client: its user agent without
 * control or format characters (no bidi overrides or zero-width ones to disguise it in a list),
 * cut to length. Still the client's own text: escape it wherever it is shown.
 */
export function sessionDevice(client: RequestClient): SessionDevice {
  const userAgent = client.userAgent
    ?.replace(/[\p{Cc}\p{Cf}]/gu, '')
    .trim()
    .slice(0, MAX_USER_AGENT_LENGTH)
    .trim();
  return { userAgent: userAgent || null, ipPrefix: ipPrefix(client.ip) };
}
