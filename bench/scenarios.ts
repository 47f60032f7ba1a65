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

/** A login: codes from `codes` (fresh for each run), as our GraphQL mutation and to the baseline's route. */
const login = (scenario: {
  key: string;
  name: string;
  latency: number;
  connections: number;
  codes: () => Promise<string[]>;
  query: string;
  route: string;
  input: (code: string) => object;
}): Scenario => ({
  key: scenario.key,
  name: scenario.name,
  latency: scenario.latency,
  connections: scenario.connections,
  ours: async () => ({
    path: '/graphql',
    next: cycle(await scenario.codes(), (code) => gqlBody(scenario.query, { input: scenario.input(code) })),
  }),
  baseline: async () => ({
    path: scenario.route,
    next: cycle(await scenario.codes(), (code) => JSON.stringify(scenario.input(code))),
  }),
});

/** `me` on our server, with a bearer token it issued. */
const meRequest = (token: string): Requests => ({
  path: '/graphql',
  next: () => gqlBody(QUERIES.me, {}),
  headers: { authorization: `Bearer ${token}` },
});

/** Every scenario, in the order they run and are reported. */
export function scenarioTable(options: BenchOptions, fixtures: Fixtures): Scenario[] {
  const { wechatLatency: latency, connections, tailLatency, tailConnections } = options;
  const { webInput, tokens } = fixtures;
  const mini = { query: QUERIES.mini, route: '/login/mini', input: (code: string) => ({ code }) };
  const table: Scenario[] = [
    login({
      key: 'mini',
      name: 'mini login, returning',
      latency,
      connections,
      codes: () => fixtures.returning('mini'),
      ...mini,
    }),
    login({
      key: 'new',
      name: 'mini login, new user',
      latency,
      connections,
      codes: () => fixtures.newcomers(),
      ...mini,
    }),
    login({
      key: 'tail',
      name: `mini login, returning, ${tailLatency} ms WeChat, ${tailConnections} conns`,
      latency: tailLatency,
      connections: tailConnections,
      codes: () => fixtures.returning('mini'),
      ...mini,
    }),
    login({
      key: 'web',
      name: 'web login, returning',
      latency,
      connections,
      codes: () => fixtures.returning('web'),
      query: QUERIES.web,
      route: '/login/web',
      input: webInput,
    }),
    login({
      key: 'app',
      name: 'app login, returning',
      latency,
      connections,
      codes: () => fixtures.returning('app'),
      query: QUERIES.app,
      route: '/login/app',
      input: (code: string) => ({ code }),
    }),
    {
      key: 'me',
      name: 'me (with a token)',
      latency,
      connections,
      ours: async () => meRequest(tokens.ours),
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
  // --vs: the other side is our server too (another build), sent the same GraphQL requests.
  if (!options.vsDir) return table;
  return table.map((scenario) => ({
    ...scenario,
    baseline: scenario.key === 'me' ? async () => meRequest(tokens.baseline) : scenario.ours,
  }));
}
