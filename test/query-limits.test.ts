import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, specifiedRules, validate, visit, type GraphQLSchema } from 'graphql';
import { buildGraphQLSchema } from '../src/graphql/schema.js';
import { queryLimitRule, type SelectionMeter } from '../src/graphql/query-limits.js';
import { startTestServer, type TestServer } from './support/server.js';

/** k fragments on Query, each with a field and a spread of every other (`cyclic`: of every one, itself too). */
function spreadingFragments(k: number, cyclic: boolean): string {
  const fragments = Array.from({ length: k }, (_, i) => {
    const targets = Array.from({ length: k }, (_, j) => j).filter((j) => cyclic || j > i);
    return `fragment F${i} on Query { __typename ${targets.map((j) => `...F${j}`).join(' ')} }`;
  });
  return `query Q { ...F0 } ${fragments.join(' ')}`;
}

/** The same through a real object field: fragments on User, spread inside \`me\`, with fields of their own. */
function spreadingUserFragments(k: number): string {
  const fragments = Array.from({ length: k }, (_, i) => {
    const targets = Array.from({ length: k }, (_, j) => j).filter((j) => j > i);
    return `fragment U${i} on User { id loginMethods { kind } ${targets.map((j) => `...U${j}`).join(' ')} }`;
  });
  return `query Q { me { ...U0 } } ${fragments.join(' ')}`;
}

/** Fields, inline fragments and spreads written in the document. */
function selectionsIn(document: string): number {
  let count = 0;
  const one = () => {
    count += 1;
  };
  visit(parse(document), { Field: one, InlineFragment: one, FragmentSpread: one });
  return count;
}

/** The limits on what one document may ask, on the real schema, with documents valid in every other respect. */
describe('query limits', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildGraphQLSchema();
  });

  const DEEP = 'mutation { wechatMiniLogin(input: { code: "c" }) { user { loginMethods { kind } } } }';
  const errors = (document: string, maxDepth: number, maxFields = 200) =>
    validate(schema, parse(document), [...specifiedRules, queryLimitRule(maxDepth, maxFields)]).map(
      (e) => e.message,
    );

  it('refuses an operation nested deeper than the limit, and only for that', () => {
    expect(errors(DEEP, 3)).toEqual(['The operation is nested deeper than 3 levels']);
  });

  it('accepts the same operation at exactly the limit', () => {
    expect(errors(DEEP, 4)).toEqual([]);
  });

  it('counts depth through fragments', () => {
    const viaFragment = `mutation { wechatMiniLogin(input: { code: "c" }) { ...P } }
      fragment P on AuthPayload { user { loginMethods { kind } } }`;
    expect(errors(viaFragment, 3)).toEqual(['The operation is nested deeper than 3 levels']);
  });

  it('refuses more fields than the limit', () => {
    const wide = `query { ${Array.from({ length: 6 }, (_, i) => `m${i}: me { id }`).join(' ')} }`;
    expect(errors(wide, 8, 10)).toEqual(['The operation asks for more than 10 fields']);
  });

  it.each([
    ...[5, 10, 13].map((k) => [
      `${k} fragments spreading each other and themselves`,
      spreadingFragments(k, true),
    ]),
    ...[10, 20, 30].map((k) => [
      `${k} fragments each spreading all later ones`,
      spreadingFragments(k, false),
    ]),
    ...[10, 20, 30].map((k) => [`${k} fragments on User, spread through me`, spreadingUserFragments(k)]),
  ])('measures %s visiting each written selection once', (_label, document) => {
    let meter: SelectionMeter | undefined;
    const messages = validate(schema, parse(document), [
      ...specifiedRules,
      queryLimitRule(8, 200, (m) => (meter = m)),
    ]).map((e) => e.message);
    // Refused (too many fields once written out, or a fragment cycle), in linear work.
    expect(messages.some((m) => /more than 200 fields|within itself/.test(m))).toBe(true);
    expect(meter!.steps).toBeLessThanOrEqual(selectionsIn(document));
  });
});

describe('an anonymous document of mutually spreading fragments sent to the server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('gets a typed validation error, and /livez answers meanwhile', async () => {
    // Before: 11 such fragments held the event loop for seconds, 13 for minutes.
    const document = spreadingFragments(30, true);
    const [answer, live] = await Promise.all([
      t.graphql(document),
      new Promise((resolve) => setTimeout(resolve, 5)).then(() => fetch(`${t.url}/livez`)),
    ]);
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(live.status).toBe(200);
  });
});
