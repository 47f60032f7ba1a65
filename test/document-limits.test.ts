import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Lexer,
  Source,
  TokenKind,
  getIntrospectionQuery,
  parse,
  specifiedRules,
  validate,
  type ASTVisitor,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { mutationLimitRule } from '../src/graphql/mutation-limit.js';
import {
  DOCUMENT_LIMITS,
  QUERY_LIMITS,
  documentLimitRule,
  queryLimitRule,
  type DocumentSize,
} from '../src/graphql/query-limits.js';
import { buildGraphQLSchema } from '../src/graphql/schema.js';
import { startTestServer, type TestServer } from './support/server.js';

const { maxSelections, maxOperationIntrospectionSelections } = DOCUMENT_LIMITS;
const words = (n: number, word: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => word(i)).join(' ');

/** Two operations of `n` selections in all, each valid and within maxFields (n even, ≤ 400). */
function twoOperations(n: number): string {
  const half = n / 2;
  return `query A { me { ${words(half - 1, () => 'id')} } } query B { me { ${words(half - 1, () => 'nickname')} } }`;
}

/** One operation: `k` aliased copies of a walk over every type's fields (6 introspection selections each), under __schema. */
function introspectionCopies(k: number): string {
  return `{ __schema { ${words(k, (i) => `t${i}: types { fields { args { name } type { name } } }`)} } }`;
}

/** Tokens the parser counts against maxTokens. */
function tokens(document: string): number {
  const lexer = new Lexer(new Source(document));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n += 1;
  return n;
}

/** The greatest k for which make(k) is within the token cap. */
function deepestWithinTokenCap(make: (k: number) => string): number {
  let k = 1;
  while (tokens(make(k + 1)) <= QUERY_LIMITS.maxTokens) k += 1;
  return k;
}

/** The query GraphiQL, Apollo Sandbox and codegen tools introspect with: every option on. */
const FULL_INTROSPECTION = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});

/** A rule that counts the nodes it is shown below the document: what the pass did after the pre-check. */
function probe(): { rule: ValidationRule; visited: () => number } {
  let visited = 0;
  const seen = () => {
    visited += 1;
  };
  const visitor: ASTVisitor = {
    OperationDefinition: seen,
    FragmentDefinition: seen,
    SelectionSet: seen,
    Field: seen,
    FragmentSpread: seen,
    InlineFragment: seen,
    Argument: seen,
  };
  return { rule: () => visitor, visited: () => visited };
}

describe('document limits, checked before any other validation', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildGraphQLSchema();
  });

  /** Validates as Apollo does here: graphql-js's rules, then ours, in one pass. */
  function check(document: string, before: ValidationRule[] = [], after: ValidationRule[] = []) {
    let size: DocumentSize | undefined;
    const messages = validate(schema, parse(document, { maxTokens: QUERY_LIMITS.maxTokens }), [
      ...specifiedRules,
      ...before,
      documentLimitRule(DOCUMENT_LIMITS, (s) => (size = s)),
      queryLimitRule(),
      mutationLimitRule(),
      ...after,
    ]).map((e) => e.message);
    return { messages, size: size! };
  }

  it(`accepts ${maxSelections} selections in a document and refuses one more, with no other rule visiting it`, () => {
    const at = check(twoOperations(maxSelections));
    expect(at.messages).toEqual([]);
    expect(at.size.selections).toBe(maxSelections);

    // One more selection, and an unknown field that graphql-js would report: only the limit is.
    const before = probe();
    const after = probe();
    const over = check(twoOperations(maxSelections).replace('id', 'id nope'), [before.rule], [after.rule]);
    expect(over.messages).toEqual([`The document has more than ${maxSelections} selections`]);
    expect(before.visited()).toBe(0);
    expect(after.visited()).toBe(0);
  });

  it('counts fragments as written, each once, and spreads and inline fragments as selections', () => {
    const fragments = `{ me { ...U ...U ... on User { id } } } fragment U on User { ${words(10, () => 'id')} }`;
    expect(check(fragments).size.selections).toBe(1 + 3 + 1 + 10);
  });

  it('counts introspection selections in the document total', () => {
    const typenames = (n: number) =>
      `query A { ${words(n / 2, () => '__typename')} } query B { ${words(n / 2, () => '__typename')} }`;
    expect(check(typenames(maxSelections)).messages).toEqual([]);
    expect(check(typenames(maxSelections + 2)).messages).toEqual([
      `The document has more than ${maxSelections} selections`,
    ]);
    // 1 + 6k: 49 copies are 295 selections, 50 are 301.
    expect(check(introspectionCopies(49)).messages).toEqual([]);
    expect(check(introspectionCopies(50)).messages).toEqual([
      `The document has more than ${maxSelections} selections`,
    ]);
  });

  it(`refuses an operation asking for more than ${maxOperationIntrospectionSelections} introspection selections through fragments`, () => {
    // Written once in a fragment on __Type, spread k times through another: 3 + 2k + 3k counted.
    const throughFragments = (k: number) => `{ __schema { types { ...Many } } }
      fragment Many on __Type { ${words(k, (i) => `c${i}: fields { ...F }`)} }
      fragment F on __Field { args { name } name }`;
    expect(check(throughFragments(59)).messages).toEqual([]);
    const { messages, size } = check(throughFragments(60));
    expect(size.selections).toBeLessThan(150);
    expect(size.operationIntrospection).toEqual([maxOperationIntrospectionSelections + 1]);
    expect(messages).toEqual([
      `An operation asks for more than ${maxOperationIntrospectionSelections} introspection selections`,
    ]);
  });

  it('lets the full introspection query of GraphiQL, Apollo Sandbox and codegen tools through', () => {
    const { messages, size } = check(FULL_INTROSPECTION);
    expect(messages).toEqual([]);
    expect(size.selections).toBeLessThan(maxSelections / 2);
    expect(size.operationIntrospection[0]).toBeLessThan(maxOperationIntrospectionSelections);
  });

  it.each([
    [
      'a chain of 100 fragments',
      `{ ...F0 } ${words(100, (i) => `fragment F${i} on Query { __typename ...F${i + 1} }`)} fragment F100 on Query { __typename }`,
    ],
    [
      '30 fragments each spreading all 30',
      `{ ...F0 } ${words(30, (i) => `fragment F${i} on Query { __typename ${words(30, (j) => `...F${j}`)} }`)}`,
    ],
    ['150 nested inline fragments', `{ ${'... { '.repeat(150)}__typename${' }'.repeat(150)} }`],
    ['2 400 fields at the token cap', `{ ${words(2400, () => '__typename')} }`],
  ])('measures %s in at most two steps per selection written', (_label, document) => {
    const { size } = check(document);
    expect(size.steps).toBeLessThanOrEqual(2 * size.selections);
  });
});

describe('documents at and over the limits, sent to the server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** Sends a document with /livez polled at the same time; both answers. */
  async function send(query: string) {
    const [answer, live] = await Promise.all([
      t.graphql(query),
      new Promise((resolve) => setTimeout(resolve, 2)).then(() => fetch(`${t.url}/livez`)),
    ]);
    expect(live.status).toBe(200);
    return answer;
  }

  it.each([
    [`${maxSelections + 1} selections in two operations`, twoOperations(maxSelections + 2)],
    [
      '500 fragments spread side by side',
      `{ ${words(500, (i) => `...F${i}`)} } ${words(500, (i) => `fragment F${i} on Query { __typename }`)}`,
    ],
    ['600 same-named fields', `{ ${words(600, () => 'me { id }')} }`],
    ['50 aliased walks over the schema', introspectionCopies(50)],
    [
      '60 walks through fragments',
      `{ __schema { types { ...Many } } } fragment Many on __Type { ${words(60, (i) => `c${i}: fields { ...F }`)} } fragment F on __Field { args { name } name }`,
    ],
  ])('answers %s with GRAPHQL_VALIDATION_FAILED', async (_label, query) => {
    const { status, body } = await send(query);
    expect(status).toBe(400);
    expect(body.data).toBeUndefined();
    expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });

  it('answers a document within the limits', async () => {
    const { status, body } = await send(twoOperations(maxSelections).replace('query A', 'query'));
    // Two operations, one anonymous: refused by graphql-js's own rule, which did run.
    expect(status).toBe(400);
    expect(body.errors?.[0]?.message).toMatch(/anonymous operation must be the only/);
    const named = await t.graphql(introspectionCopies(49));
    expect(named.status).toBe(200);
    expect(named.body.errors).toBeUndefined();
  });

  it('still answers the full introspection query', async () => {
    const { status, body } = await send(FULL_INTROSPECTION);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect((body.data as { __schema: { queryType: { name: string } } }).__schema.queryType.name).toBe(
      'Query',
    );
  });

  it.each([
    ['a list', (k: number) => `{ me(x: ${'['.repeat(k)}${']'.repeat(k)}) { id } }`],
    [
      'a list for a String argument',
      (k: number) => `{ wechatWebAuthorizeUrl(redirectUri: ${'['.repeat(k)}"x"${']'.repeat(k)}) { url } }`,
    ],
    ['an object value', (k: number) => `{ me(x: ${'{a:'.repeat(k)}1${'}'.repeat(k)}) { id } }`],
    ['a variable type', (k: number) => `query ($v: ${'['.repeat(k)}String${']'.repeat(k)}) { __typename }`],
    [
      'a variable default value',
      (k: number) =>
        `query ($v: String = ${'['.repeat(k)}1${']'.repeat(k)}) { wechatWebAuthorizeUrl(redirectUri: $v) { url } }`,
    ],
  ])(
    'answers %s nested as deep as the token cap allows with a typed error, never a 500',
    async (_label, make) => {
      const depth = deepestWithinTokenCap(make);
      const { status, body } = await send(make(depth));
      expect(status).toBe(400);
      expect(body.errors).toHaveLength(1);
      // The parser runs out of stack on the deepest lists before it reaches the token cap: Apollo
      // answers its RangeError as a parse error. Shallower ones parse and fail validation.
      const error = body.errors![0]!;
      if (error.extensions?.code === 'GRAPHQL_PARSE_FAILED')
        expect(error.message).toMatch(
          /^(Maximum call stack size exceeded|Syntax Error: Document contains more)/,
        );
      else expect(error.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      // One level more is over the token cap, or the stack: refused by the parser.
      const over = await send(make(depth + 1));
      expect(over.status).toBe(400);
      expect(over.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    },
  );
});
