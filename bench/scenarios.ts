import { QUERIES, type Fixtures } from './fixtures.js';
import type { Requests } from './measure.js';
import type { BenchOptions } from './options.js';

/**
 * The scenarios, one entry each: its --only key, the name its row of the table shows, the WeChat
 * latency the emulator adds and the connections it is driven with, and what one request is on
 * each server: our GraphQL operation, the baseline's route. The requests are made fresh for each
 * run (a unique WeChat code, refresh token or web state per request); every scenario reports the
 * same figures (bench/report.ts).
 */
export interface Scenario {
  key: string;
  name: string;
  latency: number;
  connections: number;
  ours: () => Promise<Requests>;
  baseline: () => Promise<Requests>;
}

const gqlBody = (query: string, variables: unknown) => JSON.stringify({ query, variables });

/** Round robin over `list`, each item made into a request body. */
const cycle = (list: string[], make: (item: string) => string) => {
  let i = 0;
  return () => make(list[i++ % list.length]!);
};

/** The returning-user mini login, at some WeChat latency and connections (mini and tail). */
const miniReturning = (
  fixtures: Fixtures,
  latency: number,
  connections: number,
  key: string,
  name: string,
): Scenario => ({
  key,
  name,
  latency,
  connections,
  ours: async () => ({
    path: '/graphql',
    next: cycle(await fixtures.returning('mini'), (code) => gqlBody(QUERIES.mini, { input: { code } })),
  }),
  baseline: async () => ({
    path: '/login/mini',
    next: cycle(await fixtures.returning('mini'), (code) => JSON.stringify({ code })),
  }),
});

/** Every scenario, in the order they run and are reported. */
export function scenarioTable(options: BenchOptions, fixtures: Fixtures): Scenario[] {
  const { wechatLatency: latency, connections, tailLatency, tailConnections } = options;
  const { webInput, tokens } = fixtures;
  return [
    miniReturning(fixtures, latency, connections, 'mini', 'mini login, returning'),
    {
      key: 'new',
      name: 'mini login, new user',
      latency,
      connections,
      ours: async () => ({
        path: '/graphql',
        next: cycle(await fixtures.newcomers(), (code) => gqlBody(QUERIES.mini, { input: { code } })),
      }),
      baseline: async () => ({
        path: '/login/mini',
        next: cycle(await fixtures.newcomers(), (code) => JSON.stringify({ code })),
      }),
    },
    miniReturning(
      fixtures,
      tailLatency,
      tailConnections,
      'tail',
      `mini login, returning, ${tailLatency} ms WeChat, ${tailConnections} conns`,
    ),
    {
      key: 'web',
      name: 'web login, returning',
      latency,
      connections,
      ours: async () => ({
        path: '/graphql',
        next: cycle(await fixtures.returning('web'), (code) =>
          gqlBody(QUERIES.web, { input: webInput(code) }),
        ),
      }),
      baseline: async () => ({
        path: '/login/web',
        next: cycle(await fixtures.returning('web'), (code) => JSON.stringify(webInput(code))),
      }),
    },
    {
      key: 'app',
      name: 'app login, returning',
      latency,
      connections,
      ours: async () => ({
        path: '/graphql',
        next: cycle(await fixtures.returning('app'), (code) => gqlBody(QUERIES.app, { input: { code } })),
      }),
      baseline: async () => ({
        path: '/login/app',
        next: cycle(await fixtures.returning('app'), (code) => JSON.stringify({ code })),
      }),
    },
    {
      key: 'me',
      name: 'me (with a token)',
      latency,
      connections,
      ours: async () => ({
        path: '/graphql',
        next: () => gqlBody(QUERIES.me, {}),
        headers: { authorization: `Bearer ${tokens.ours}` },
      }),
      baseline: async () => ({
        path: '/me',
        next: () => '{}',
        headers: { authorization: `Bearer ${tokens.baseline}` },
      }),
    },
    {
      key: 'refresh',
      name: 'refreshSession',
      latency,
      connections,
      ours: async () => ({
        path: '/graphql',
        next: cycle(await fixtures.plantRefreshTokens(), (t) => gqlBody(QUERIES.refresh, { t })),
      }),
      baseline: async () => ({
        path: '/refresh',
        next: cycle(await fixtures.plantRefreshTokens(), (t) => JSON.stringify({ refreshToken: t })),
      }),
    },
  ];
}
