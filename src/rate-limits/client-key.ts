import { isIPv4, isIPv6 } from 'node:net';

/** The prefix an IPv6 client is counted by when RATE_LIMIT_IPV6_PREFIX is not set: one site's /64. */
export const DEFAULT_IPV6_PREFIX = 64;

/**
 * The key a client's per-IP limits count under. An IPv4 client is its address. An IPv6 client is
 * the network of its first `ipv6Prefix` bits (`2001:db8:1:2::/64`): a host usually holds a whole
 * /64 and can take any address in it, so keying by address would give one host 2^64 budgets. An
 * IPv4 address written as IPv6 (`::ffff:203.0.113.7`, what a dual-stack socket reports) is the IPv4
 * address. Anything else (no address at all) is kept as it is.
 */
export function clientKey(ip: string, ipv6Prefix = DEFAULT_IPV6_PREFIX): string {
  if (isIPv4(ip)) return ip;
  // A zone (fe80::1%eth0) names the interface, not the host.
  const address = ip.split('%', 1)[0]!;
  if (!isIPv6(address)) return ip;
  const groups = ipv6Groups(address);
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  const network = groups.map((group, i) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - 16 * i));
    return group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${network.map((g) => g.toString(16)).join(':')}/${ipv6Prefix}`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail as two groups). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((piece) => {
      if (!piece.includes('.')) return [parseInt(piece, 16)];
      const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const [head, tail] = address.split('::') as [string, string | undefined];
  const front = parse(head);
  if (tail === undefined) return front;
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/**
 * What a session keeps of its client's address (docs/privacy.md): the network, never the host. An
 * IPv4 address is its /24 (`203.0.113.0/24`), an IPv6 one its /48 (`2001:db8:1::/48`, one site);
 * an IPv4 address written as IPv6 is the IPv4 one. Null for anything that is no address.
 */
export function ipPrefix(ip: string): string | null {
  const key = clientKey(ip, 48);
  if (isIPv4(key)) return `${key.slice(0, key.lastIndexOf('.'))}.0/24`;
  if (!key.endsWith('/48') || !isIPv6(key.slice(0, -3))) return null;
  const [a, b, c] = key.split(':');
  return `${a}:${b}:${c}::/48`;
}
