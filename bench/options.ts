import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** `npm run bench`'s command line (bench/run.ts describes every option). */
export interface BenchOptions {
  /** WeChat latency (ms) the emulator adds, for every scenario but tail. */
  wechatLatency: number;
  connections: number;
  tailLatency: number;
  tailConnections: number;
  /** The scenario keys to run. */
  only: Set<string>;
  /** A built checkout whose server runs as "ours" (an earlier commit, for before/after figures). */
  oursDir: string;
  /**
   * A built checkout whose server runs in the baseline's place (`--vs dir`): before/after of one
   * change in one interleaved run, the same GraphQL requests to both.
   */
  vsDir?: string;
  /** Seconds per run. */
  duration: number;
  /** Interleaved ours/baseline rounds. */
  rounds: number;
  /** Returning users registered before the runs. */
  users: number;
  rateLimit: boolean;
  rateLimitOnly: boolean;
  /** Offered load in requests/s over all connections; 0: as fast as the server answers (saturation). */
  rate: number;
  /**
   * Think time: with it, each of the --connections clients sends a request, waits for the answer,
   * then waits this long (client starts spread over one think time), like people using an app;
   * without it (0), each client sends its next request at once (autocannon, saturation).
   */
  thinkMs: number;
  /** Login tickets alone (bench/tickets.ts): wake-up latency, WeChat calls, memory per subscription. */
  tickets: boolean;
  /** Follow-login alone (bench/follow.ts): push-to-page latency, WeChat calls, a burst of pushes. */
  follow: boolean;
  /** Two seeded databases, small and big (bench/scale.ts): the hot scenarios on each, interleaved. */
  scale: boolean;
  /** --scale's two sizes, in users. */
  scaleUsers: [number, number];
  /** The OpenID Connect provider alone (bench/oidc.ts): a flow's requests and time, start-up and memory. */
  oidc: boolean;
  /** Our server's WEB_CONCURRENCY: worker processes (1: one process, the default). */
  webConcurrency: number;
  /**
   * Website QR login, both steps, on ours and on better-auth's WeChat provider (bench/peer.ts):
   * logins/s, latency, CPU per login, and the ratio.
   */
  peer: boolean;
}

export function parseOptions(): BenchOptions {
  const { values: args } = parseArgs({
    options: {
      'wechat-latency': { type: 'string', default: '0' },
      connections: { type: 'string', default: '32' },
      'tail-latency': { type: 'string', default: '50' },
      'tail-connections': { type: 'string', default: '200' },
      only: { type: 'string', default: 'mini,new,tail,web,app,me,refresh' },
      'ours-dir': { type: 'string', default: '.' },
      vs: { type: 'string' },
      duration: { type: 'string', default: '6' },
      rounds: { type: 'string', default: '2' },
      users: { type: 'string', default: '500' },
      'rate-limit': { type: 'boolean', default: false },
      'rate-limit-only': { type: 'boolean', default: false },
      tickets: { type: 'boolean', default: false },
      follow: { type: 'boolean', default: false },
      oidc: { type: 'boolean', default: false },
      scale: { type: 'boolean', default: false },
      'scale-users': { type: 'string', default: '1000,1000000' },
      'web-concurrency': { type: 'string', default: '1' },
      peer: { type: 'boolean', default: false },
      rate: { type: 'string', default: '0' },
      'think-ms': { type: 'string', default: '0' },
    },
  });
  return {
    wechatLatency: Number(args['wechat-latency']),
    connections: Number(args.connections),
    tailLatency: Number(args['tail-latency']),
    tailConnections: Number(args['tail-connections']),
    only: new Set(args.only.split(',')),
    oursDir: resolve(args['ours-dir']),
    vsDir: args.vs === undefined ? undefined : resolve(args.vs),
    duration: Number(args.duration),
    rounds: Number(args.rounds),
    users: Number(args.users),
    rateLimit: args['rate-limit'],
    rateLimitOnly: args['rate-limit-only'],
    tickets: args.tickets,
    follow: args.follow,
    oidc: args.oidc,
    scale: args.scale,
    scaleUsers: args['scale-users'].split(',').map(Number) as [number, number],
    webConcurrency: Number(args['web-concurrency']),
    peer: args.peer,
    rate: Number(args.rate),
    thinkMs: Number(args['think-ms']),
  };
}
