import { readFileSync } from 'node:fs';
import { buildSchema, type GraphQLSchema } from 'graphql';
import { DIRECTIVES, DocumentWriter, words, type Rand } from './fuzz-writer.js';

/**
 * Generated GraphQL requests over this server's schema (schema.graphql): random selections of real
 * fields with aliases, arguments good and bad, fragments spreading each other (cycles included),
 * directives, variables declared or not, list and object values, long strings, many operations,
 * deep nesting and garbage tokens, and a catalog of shapes sized around the limits
 * (src/graphql/query-limits.ts). Every random choice is drawn from fast-check (`fc.gen()`, through
 * randOf in fuzz-writer.ts), so a seed replays a run. test/fuzz.test.ts and `npm run fuzz`
 * (scripts/fuzz.ts) send them with runFuzz (fuzz.ts).
 */

/** What one POST /graphql carries (JSON). */
export interface FuzzRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

/** The schema the server serves, from the committed schema.graphql. */
export function ourSchema(): GraphQLSchema {
  return buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
}

const GARBAGE = [
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  '$',
  '@',
  '...',
  '..',
  '!',
  '=',
  ':',
  '|',
  '&',
  '"',
  '"""',
  '#',
  '\\',
  '\u0000',
  '\uFEFF',
  '\u2028',
  'query',
  'mutation',
  'fragment',
  'on',
  'null',
  '0x1F',
  '1e999',
  '-',
  '-0',
  '01',
  '.5',
  '__schema',
  '\u00e9',
  '\ud83d',
  '😀',
  "'",
  '\t',
  '\r',
  ',,,',
];

/** Writes one request: structured documents mostly, catalog shapes and garbage sometimes. */
export function writeRequest(schema: GraphQLSchema, r: Rand): FuzzRequest {
  const writer = new DocumentWriter(schema, r);
  const kind = r.int(0, 99);
  let query: string;
  if (kind < 5) query = Array.from({ length: r.int(0, 60) }, () => r.pick(GARBAGE)).join(r.pick(['', ' ']));
  else if (kind < 8) query = r.pick(['', ' ', '#', '# only a comment\n', '{}', '{ }', 'query', '\u0000']);
  else if (kind < 28) query = catalogShape(r);
  else query = writer.document();
  if (r.chance(0.06)) query = mangle(query, r);
  const request: FuzzRequest = { query };
  if (r.chance(0.02)) request.query = r.pick([null, 42, ['{ me { id } }'], { query: '{}' }, true]);
  if (r.chance(0.4)) request.variables = writer.variables();
  if (r.chance(0.15))
    request.operationName = r.pick([...writer.operationNames, 'Nope', '', null, 7, ['Q'], r.text(20)]);
  if (r.chance(0.03))
    request.extensions = r.pick([
      { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } },
      { persistedQuery: { version: 2, sha256Hash: r.text(10) } },
      { persistedQuery: 'yes' },
      'ext',
      [],
    ]);
  return request;
}

/** A garbage token put in, a piece cut out, or the document cut short. */
function mangle(query: string, r: Rand): string {
  const at = r.int(0, query.length);
  switch (r.int(0, 3)) {
    case 0:
      return query.slice(0, at) + r.pick(GARBAGE) + query.slice(at);
    case 1:
      return query.slice(0, at);
    case 2:
      return query.slice(0, at) + query.slice(Math.min(query.length, at + r.int(1, 20)));
    default:
      return query.slice(0, at) + query.slice(at, at + r.int(1, 200)).repeat(r.int(2, 20)) + query.slice(at);
  }
}

/** Shapes that were, or could be, expensive, sized around the limits (300 selections, 5 000 tokens, 8 levels). */
function catalogShape(r: Rand): string {
  const n = (low: number, high: number) => (r.chance(0.5) ? r.int(low, high) : r.int(1, low));
  switch (r.int(0, 19)) {
    case 0:
      return `{ ${words(n(250, 1300), () => 'me { id }')} }`;
    case 1:
      return `{ ${words(n(250, 700), (i) => `...F${i}`)} } ${words(n(250, 700), (i) => `fragment F${i} on Query { __typename }`)}`;
    case 2: {
      const k = n(10, 40);
      return `query Q { ...F0 } ${words(k, (i) => `fragment F${i} on Query { __typename ${words(k, (j) => `...F${j}`)} }`)}`;
    }
    case 3: {
      const k = n(10, 40);
      return `{ me { ...U0 } } ${words(k, (i) => `fragment U${i} on User { id loginMethods { kind } ${words(k - i - 1, (j) => `...U${i + j + 1}`)} }`)}`;
    }
    case 4: {
      const k = n(200, 1800);
      return `{ ${'... { '.repeat(k)}__typename${' }'.repeat(k)} }`;
    }
    case 5: {
      const k = n(6, 1800);
      return `{ ${'me { loginMethods { kind } '.repeat(k)}${'}'.repeat(k)} }`;
    }
    case 6: {
      const k = n(500, 2600);
      return `{ wechatWebAuthorizeUrl(redirectUri: ${'['.repeat(k)}"x"${']'.repeat(k)}) { url } }`;
    }
    case 7: {
      const k = n(300, 1300);
      return `mutation { updateProfile(input: ${'{nickname:'.repeat(k)}"x"${'}'.repeat(k)}) { id } }`;
    }
    case 8: {
      const k = n(300, 2600);
      return `query ($v: ${'['.repeat(k)}String${']'.repeat(k)}) { __typename }`;
    }
    case 9:
      return `{ __schema { ${words(n(40, 300), (i) => `t${i}: types { fields { args { name } type { name } } }`)} } }`;
    case 10:
      return `{ __schema { types { ...Many } } } fragment Many on __Type { ${words(n(50, 300), (i) => `c${i}: fields { ...F }`)} } fragment F on __Field { args { name type { name } } name }`;
    case 11:
      return `{ wechatWebAuthorizeUrl(redirectUri: ${JSON.stringify('x'.repeat(n(10_000, 270_000)))}) { url } }`;
    case 12:
      return words(n(100, 1300), (i) => `query Q${i} { __typename }`);
    case 13:
      return `query (${words(n(100, 1000), (i) => `$v${i}: Boolean`)}) { ${words(n(100, 600), (i) => `__typename @skip(if: $v${i})`)} }`;
    case 14:
      return `{ __typename ${words(n(100, 2500), () => r.pick(DIRECTIVES))} }`;
    case 15:
      return `{ me(${words(n(100, 1500), (i) => `a${r.chance(0.5) ? i : ''}: ${r.pick(['1', '"x"', 'null', '[1]', '{a: 1}', '$v'])}`)}) { id } }`;
    case 16: {
      const field = r.pick([
        'updateProfile(input: { nickname: "n" }) { id }',
        'logout',
        'wechatMiniLogin(input: { code: "c" }) { accessToken }',
        'deleteAccount',
        'refreshSession(refreshToken: "rt_x") { accessToken }',
      ]);
      return `mutation { ${words(n(2, 150), (i) => `m${i}: ${field}`)} }`;
    }
    case 17:
      return `{ ${words(n(100, 5100), () => '__typename')} }`;
    case 18:
      return `{ ${words(n(100, 2000), (i) => `nope${i}`)} }`;
    default:
      return `{ ${words(n(100, 700), () => `a: ${r.pick(['me { id }', '__typename', 'me { nickname }', 'wechatWebAuthorizeUrl(redirectUri: "u") { url }'])}`)} }`;
  }
}
