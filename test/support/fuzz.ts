import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';

/**
 * Generated GraphQL requests over this server's schema (schema.graphql): random selections of real
 * fields with aliases, arguments good and bad, fragments spreading each other (cycles included),
 * directives, variables declared or not, list and object values, long strings, many operations,
 * deep nesting and garbage tokens, and a catalog of shapes sized around the limits
 * (src/graphql/query-limits.ts). Every random choice is drawn from fast-check (`fc.gen()`), so a
 * seed replays a run. test/fuzz.test.ts and `npm run fuzz` (scripts/fuzz.ts) send them.
 */

/** What one POST /graphql carries (JSON). */
export interface FuzzRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: unknown;
}

/** The random choices a document is made of. */
export interface Rand {
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A short random string, any Unicode (lone surrogates included) or ASCII. */
  text(maxLength: number): string;
}

/** Rand over fast-check's generator: every choice is recorded by the run's seed. */
export function randOf(g: fc.GeneratorValue): Rand {
  const int = (min: number, max: number) => g(fc.integer, { min, max });
  return {
    int,
    chance: (p) => int(0, 999) < p * 1000,
    pick: <T>(items: readonly T[]) => items[int(0, items.length - 1)]!,
    text: (maxLength) =>
      g(fc.string, {
        unit: (['grapheme', 'binary', 'grapheme-ascii'] as const)[int(0, 2)],
        maxLength,
      }),
  };
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
const NAMES = ['a', 'b', 'me', 'id', 'user', 'x', 'Q', '__typename', 'query', 'on', 'true', 'null', '_'];
const OBJECT_TYPES = ['Query', 'Mutation', 'User', 'LoginMethod', 'AuthPayload', 'WechatAuthorizeUrl'];
const VARIABLE_TYPES = [
  'String',
  'String!',
  'Boolean',
  'Boolean!',
  'ID',
  'Int',
  'Float',
  '[String]',
  '[String!]!',
  'LoginMethodKind',
  'WechatOAuthScope',
  'WechatMiniLoginInput!',
  'UpdateProfileInput',
  'LinkWechatIdentityInput',
  'DateTime',
  'User',
  'NoSuchType',
  '[[[String]]]',
];
const DIRECTIVES = [
  '@skip(if: true)',
  '@skip(if: false)',
  '@include(if: true)',
  '@include(if: false)',
  '@skip(if: $v0)',
  '@include(if: $nope)',
  '@skip(if: "yes")',
  '@skip',
  '@deprecated',
  '@nope',
  '@include(if: true, if: false)',
  '@specifiedBy(url: "x")',
  '@skip(if: [true])',
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

const words = (n: number, word: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => word(i)).join(' ');

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

/** A structured document: operations and fragments over the schema's real types and fields. */
class DocumentWriter {
  readonly operationNames: string[] = [];
  private readonly fragmentNames: string[] = [];
  /** The type each fragment is on, by name. */
  private readonly fragmentTypes = new Map<string, string>();
  /** No deliberate mistake in this document: what a client would send (it may still fail validation). */
  private readonly clean: boolean;
  private aliases = 0;
  private readonly variableNames: string[] = [];
  /** Selections left for this document: bounds the work of writing it, not what it asks. */
  private budget: number;
  private maxDepth = 0;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly r: Rand,
  ) {
    this.clean = r.chance(0.5);
    this.budget = r.chance(0.1) ? r.int(300, 3000) : r.int(5, 120);
  }

  document(): string {
    const { r } = this;
    const fragments = r.chance(0.6) ? r.int(0, 3) : r.chance(0.1) && !this.clean ? r.int(10, 60) : 0;
    for (let i = 0; i < fragments; i++) {
      const name = r.chance(0.05) && !this.clean ? 'F0' : `F${i}`;
      this.fragmentNames.push(name);
      if (!this.fragmentTypes.has(name))
        this.fragmentTypes.set(
          name,
          r.chance(0.9) || this.clean
            ? r.pick(OBJECT_TYPES)
            : r.pick(['__Type', '__Schema', 'NoSuchType', 'Boolean']),
        );
    }
    const operations = r.chance(0.8) || this.clean ? 1 : r.chance(0.8) ? r.int(2, 4) : r.int(5, 200);
    const parts: string[] = [];
    for (let i = 0; i < operations; i++) parts.push(this.operation(operations));
    for (const name of this.fragmentNames) {
      const on = this.fragmentTypes.get(name)!;
      this.maxDepth = this.clean ? r.int(1, 3) : r.int(2, 10);
      parts.push(`fragment ${name} on ${on}${this.directives()} ${this.selectionSet(on, 1)}`);
    }
    return r.chance(0.1) ? parts.reverse().join('\n') : parts.join(' ');
  }

  private operation(count: number): string {
    const { r } = this;
    const kind = r.chance(0.75) ? 'query' : r.chance(0.9) || this.clean ? 'mutation' : 'subscription';
    const anonymous = count === 1 ? r.chance(0.4) : r.chance(0.05);
    const name = r.chance(0.1) ? r.pick(NAMES) : `Op${r.int(0, count + 1)}`;
    if (!anonymous) this.operationNames.push(name);
    const variables: string[] = [];
    const declared = this.clean ? 0 : r.chance(0.5) ? r.int(0, 3) : r.chance(0.05) ? r.int(10, 200) : 0;
    for (let i = 0; i < declared; i++) {
      const variable = r.chance(0.9) ? `v${i}` : r.pick(['v0', 'input', 'nope', '__v']);
      this.variableNames.push(variable);
      const type = r.pick(VARIABLE_TYPES);
      const defaultValue = r.chance(0.1) ? ` = ${r.chance(0.8) ? this.stringValue() : this.badValue(0)}` : '';
      variables.push(`$${variable}: ${type}${defaultValue}${r.chance(0.05) ? ' @skip(if: true)' : ''}`);
    }
    this.maxDepth = r.chance(0.85) || this.clean ? r.int(1, 5) : r.int(6, 14);
    const root = kind === 'mutation' ? 'Mutation' : kind === 'subscription' ? 'Subscription' : 'Query';
    const variableList = variables.length > 0 ? `(${variables.join(', ')})` : '';
    const selection =
      kind === 'mutation' && (r.chance(0.7) || this.clean) ? this.oneMutation() : this.selectionSet(root, 1);
    const directives = this.directives();
    // The shorthand `{ … }` only for a query without name, variables or directives.
    const shorthand = anonymous && variables.length === 0 && !directives && kind === 'query' && r.chance(0.5);
    return `${shorthand ? '' : `${kind}${anonymous ? '' : ` ${name}`}`}${variableList}${directives} ${selection}`;
  }

  /** One mutation field, as a client would send it, its arguments good or bad. */
  private oneMutation(): string {
    const mutation = this.schema.getMutationType()!;
    const field = this.r.pick(Object.values(mutation.getFields()));
    return `{ ${this.field(field, mutation, 1)} }`;
  }

  private selectionSet(typeName: string, depth: number): string {
    const { r } = this;
    const count = r.chance(0.05) && !this.clean ? r.int(10, 400) : r.int(1, 4);
    const selections: string[] = [];
    for (let i = 0; i < count && this.budget > 0; i++) {
      this.budget -= 1;
      selections.push(this.selection(typeName, depth));
    }
    if (selections.length === 0) selections.push(r.chance(0.9) ? '__typename' : '');
    return `{ ${selections.join(r.chance(0.1) ? ', ' : ' ')} }`;
  }

  private selection(typeName: string, depth: number): string {
    const { r } = this;
    const type = this.schema.getType(typeName);
    const fields = isObjectType(type) || isInterfaceType(type) ? Object.values(type.getFields()) : [];
    if (this.clean) {
      const what = r.int(0, 99);
      const spreads = this.fragmentNames.filter((name) => this.fragmentTypes.get(name) === typeName);
      if (what < 8) return `__typename${this.directives()}`;
      if (what < 14) return `... on ${typeName}${this.directives()} ${this.selectionSet(typeName, depth)}`;
      if (what < 24 && spreads.length > 0) return `...${r.pick(spreads)}${this.directives()}`;
      if (what < 27 && typeName === 'Query') return this.introspection(depth);
      if (fields.length > 0) return this.field(r.pick(fields), type as GraphQLObjectType, depth);
      return '__typename';
    }
    const what = r.int(0, 99);
    if (what < 62 && fields.length > 0) return this.field(r.pick(fields), type as GraphQLObjectType, depth);
    if (what < 70) return `${this.alias()}__typename${this.directives()}`;
    if (what < 78) {
      const on = r.chance(0.7) ? ` on ${typeName}` : r.chance(0.5) ? '' : ` on ${r.pick(OBJECT_TYPES)}`;
      return `...${on}${this.directives()} ${this.selectionSet(on ? on.slice(4) : typeName, depth)}`;
    }
    if (what < 90 && this.fragmentNames.length > 0)
      return `...${r.chance(0.9) ? r.pick(this.fragmentNames) : 'Missing'}${this.directives()}`;
    if (what < 94 && typeName === 'Query') return this.introspection(depth);
    if (what < 97)
      return `${this.alias()}${r.chance(0.9) ? r.pick(['nope', 'password', 'users', '__nope']) : r.text(8)}`;
    return `${this.alias()}__typename`;
  }

  private introspection(depth: number): string {
    const { r } = this;
    if (r.chance(0.5)) return `${this.alias()}__schema ${this.selectionSet('__Schema', depth + 1)}`;
    const name = r.chance(0.8) ? r.pick([...OBJECT_TYPES, 'String', '__Type', 'Nope']) : r.text(10);
    return `${this.alias()}__type(name: ${JSON.stringify(name)}) ${this.selectionSet('__Type', depth + 1)}`;
  }

  private alias(): string {
    const { r } = this;
    if (!r.chance(0.3)) return '';
    if (this.clean) return `a${this.aliases++}: `;
    return `${r.chance(0.8) ? r.pick(NAMES.filter((n) => !n.startsWith('__'))) : `a${r.int(0, 5)}`}: `;
  }

  private field(field: GraphQLField<unknown, unknown>, _parent: GraphQLObjectType, depth: number): string {
    const { r } = this;
    const args: string[] = [];
    for (const arg of field.args) {
      const required = isNonNullType(arg.type) && arg.defaultValue === undefined;
      if (required ? r.chance(0.92) : r.chance(0.35)) args.push(`${arg.name}: ${this.value(arg.type, 0)}`);
    }
    if (r.chance(0.05) && !this.clean)
      args.push(`${r.pick(['nope', 'input', 'appId', 'x'])}: ${this.badValue(0)}`);
    const argList = args.length > 0 ? `(${args.join(r.chance(0.2) ? ', ' : ' ')})` : '';
    const named = getNamedType(field.type);
    let below = '';
    if (!isLeafType(named)) {
      if (r.chance(0.97) || this.clean)
        below = depth < this.maxDepth ? this.selectionSet(named.name, depth + 1) : '{ __typename }';
    } else if (r.chance(0.03) && !this.clean) below = '{ id }';
    return `${this.alias()}${field.name}${argList}${this.directives()} ${below}`.trimEnd();
  }

  private directives(): string {
    const { r } = this;
    if (!r.chance(0.1)) return '';
    if (this.clean) return ` ${r.pick(['@skip(if: false)', '@include(if: true)', '@skip(if: true)'])}`;
    return ` ${words(r.chance(0.9) ? 1 : r.int(2, 30), () => r.pick(DIRECTIVES))}`;
  }

  /** A value of the type mostly, else something wrong for it. */
  private value(type: GraphQLInputType, depth: number): string {
    const { r } = this;
    if (r.chance(0.12) && !this.clean)
      return r.chance(0.7) && this.variableNames.length > 0
        ? `$${r.pick(this.variableNames)}`
        : '$undeclared';
    if ((r.chance(0.1) && !this.clean) || depth > 6) return this.badValue(depth);
    if (isNonNullType(type)) return this.value(type.ofType, depth);
    if (isListType(type)) return `[${words(r.int(0, 3), () => this.value(type.ofType, depth + 1))}]`;
    const named: GraphQLNamedType = type;
    if (isEnumType(named)) return r.pick(named.getValues()).name;
    if (isInputObjectType(named)) {
      const fields = Object.values(named.getFields()).filter(
        (f) => (isNonNullType(f.type) && f.defaultValue === undefined) || r.chance(0.3),
      );
      return `{ ${fields.map((f) => `${f.name}: ${this.value(f.type, depth + 1)}`).join(' ')} }`;
    }
    if (isScalarType(named) && named.name === 'Boolean') return r.pick(['true', 'false']);
    return this.stringValue();
  }

  private stringValue(): string {
    const { r } = this;
    const kind = this.clean ? r.int(0, 6) : r.int(0, 9);
    if (kind < 4) return JSON.stringify(r.pick(['c', 'rt_x', 'https://a.example/cb', 'wxtestmini', 'n', '']));
    if (kind < 7) return JSON.stringify(r.text(40));
    if (kind < 8) return `"""${r.text(40).replace(/"""/g, '')}"""`;
    if (kind < 9) return JSON.stringify('x'.repeat(r.int(100, 20_000)));
    // Written as-is: a string literal that may not be one.
    return `"${r.text(20)}"`;
  }

  private badValue(depth: number): string {
    const { r } = this;
    switch (r.int(0, 9)) {
      case 0:
        return String(r.int(-1e9, 1e9));
      case 1:
        return r.pick(['1.5', '1e400', '-0', 'true', 'null', 'NaN', 'WECHAT_WEB', 'nope']);
      case 2:
        return depth > 4 ? 'null' : `[${words(r.int(0, 4), () => this.badValue(depth + 1))}]`;
      case 3:
        return depth > 4 ? '{}' : `{ ${words(r.int(0, 3), (i) => `k${i}: ${this.badValue(depth + 1)}`)} }`;
      case 4: {
        const k = r.int(10, 300);
        return `${'['.repeat(k)}${']'.repeat(k)}`;
      }
      case 5:
        return `$${r.chance(0.5) && this.variableNames.length > 0 ? r.pick(this.variableNames) : 'nope'}`;
      default:
        return this.stringValue();
    }
  }

  /** Variables for the request: for the declared names mostly, of any JSON shape. */
  variables(): unknown {
    const { r } = this;
    if (r.chance(0.08)) return r.pick(['{}', [], 'v', 3, null, [{}], true]);
    const json = (depth: number): unknown => {
      switch (r.int(0, 7)) {
        case 0:
          return r.text(30);
        case 1:
          return r.int(-1e9, 1e9);
        case 2:
          return r.chance(0.5);
        case 3:
          return null;
        case 4:
          return depth > 3 ? [] : Array.from({ length: r.int(0, 4) }, () => json(depth + 1));
        case 5: {
          if (depth > 3) return {};
          const object: Record<string, unknown> = {};
          for (const key of ['code', 'nickname', 'avatarUrl', 'kind', 'state', r.text(5)])
            if (r.chance(0.4)) object[key] = json(depth + 1);
          return object;
        }
        case 6: {
          let deep: unknown = 'x';
          for (let i = r.int(10, 3000); i > 0; i--) deep = [deep];
          return deep;
        }
        default:
          return 'x'.repeat(r.int(0, 5000));
      }
    };
    const variables: Record<string, unknown> = {};
    for (const name of [...this.variableNames, ...(r.chance(0.2) ? ['extra', 'v0'] : [])])
      variables[name] = r.chance(0.5)
        ? r.pick(['c', 'rt_x', true, 'WECHAT_MINI', { code: 'c' }, { nickname: 'n' }])
        : json(0);
    return variables;
  }
}

/** What was wrong with one answer to POST /graphql: nothing for a typed answer. */
export function problemsWith(status: number, text: string): string[] {
  const problems: string[] = [];
  if (status >= 500) problems.push(`status ${status}`);
  if (/"stacktrace"/.test(text)) problems.push('a stacktrace extension');
  if (/\\n {4}at |^ {4}at /m.test(text)) problems.push('a stack trace line');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push('a body that is not JSON');
    return problems;
  }
  if (typeof body !== 'object' || body === null || !('data' in body || 'errors' in body)) {
    problems.push('neither data nor errors');
    return problems;
  }
  const errors = (body as { errors?: unknown }).errors;
  if (errors !== undefined) {
    if (!Array.isArray(errors) || errors.length === 0) problems.push('errors that is not a list of errors');
    else
      for (const error of errors as Array<{ extensions?: { code?: unknown } }>)
        if (typeof error?.extensions?.code !== 'string') problems.push('an error without extensions.code');
  }
  return problems;
}

/** Figures of a fuzz run. */
export interface FuzzResult {
  tried: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Errors by extensions.code. */
  codes: Record<string, number>;
  worstAnswerMs: number;
  /** The request that took worstAnswerMs, its first 300 characters. */
  slowest?: string;
  worstLivezMs: number;
  /** The requests the server was answering while the slowest /livez poll waited (first 300 characters each). */
  duringWorstLivez: string[];
  livezPolls: number;
  /** Polls of /livez that did not answer 200. */
  livezFailures: number;
  /** Answers that were not typed, with their request. */
  problems: Array<{ request: FuzzRequest; status: number; problems: string[] }>;
  durationMs: number;
}

interface LivezFigures {
  worst: number;
  /** When the slowest poll was sent (ms since the epoch). */
  worstAt: number;
  polls: number;
  failures: number;
}

/**
 * Polls `${url}/livez` every 10 ms from a thread of its own until stopped, so what it measures is
 * the server's delay, not the sender's (a server in this process, as in tests, is measured too).
 */
function pollLivez(url: string): { stop(): Promise<LivezFigures> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    let done = false, worst = 0, worstAt = 0, polls = 0, failures = 0;
    parentPort.on('message', () => { done = true; });
    (async () => {
      while (!done) {
        const t0 = performance.now();
        let status = 0;
        try {
          const response = await fetch(workerData.url + '/livez');
          status = response.status;
          await response.arrayBuffer();
        } catch {}
        const ms = performance.now() - t0;
        if (ms > worst) [worst, worstAt] = [ms, performance.timeOrigin + t0];
        polls += 1;
        if (status !== 200) failures += 1;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      parentPort.postMessage({ worst, worstAt, polls, failures });
    })();`,
    { eval: true, workerData: { url } },
  );
  const figures = new Promise<LivezFigures>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const result = await figures;
      await worker.terminate();
      return result;
    },
  };
}

/**
 * Sends `count` generated requests (seed `seed`) to `${url}/graphql`, one at a time, while a loop
 * polls `${url}/livez`. `stopOnProblem`: the first untyped answer throws (fast-check reports the
 * seed and the path that replays it); otherwise every problem is collected.
 */
export async function runFuzz(options: {
  url: string;
  count: number;
  seed: number;
  stopOnProblem?: boolean;
  /** Told after each answer (progress). */
  onAnswer?: (result: FuzzResult) => void;
}): Promise<FuzzResult> {
  const { url, count, seed } = options;
  const schema = ourSchema();
  const result: FuzzResult = {
    tried: 0,
    statuses: {},
    codes: {},
    worstAnswerMs: 0,
    worstLivezMs: 0,
    livezPolls: 0,
    livezFailures: 0,
    duringWorstLivez: [],
    problems: [],
    durationMs: 0,
  };
  const started = performance.now();
  const poller = pollLivez(url);
  /** When each request was sent and answered (ms since the epoch), to find what a slow poll waited on. */
  const spans: Array<[number, number, FuzzRequest]> = [];
  try {
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const request = writeRequest(schema, randOf(g));
        const t0 = performance.now();
        const response = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
        });
        const text = await response.text();
        const ms = performance.now() - t0;
        spans.push([performance.timeOrigin + t0, performance.timeOrigin + t0 + ms, request]);
        if (ms > result.worstAnswerMs) {
          result.worstAnswerMs = ms;
          result.slowest = JSON.stringify(request).slice(0, 300);
        }
        result.tried += 1;
        result.statuses[response.status] = (result.statuses[response.status] ?? 0) + 1;
        try {
          for (const error of (JSON.parse(text) as { errors?: Array<{ extensions?: { code?: unknown } }> })
            .errors ?? [])
            result.codes[String(error?.extensions?.code)] =
              (result.codes[String(error?.extensions?.code)] ?? 0) + 1;
        } catch {
          // problemsWith says so.
        }
        const problems = problemsWith(response.status, text);
        options.onAnswer?.(result);
        if (problems.length === 0) return;
        result.problems.push({ request, status: response.status, problems });
        if (options.stopOnProblem)
          throw new Error(
            `${problems.join(', ')} (status ${response.status}) for ${JSON.stringify(request).slice(0, 2000)}\n` +
              `answer: ${text.slice(0, 2000)}`,
          );
      }),
      { seed, numRuns: count, endOnFailure: true },
    );
  } finally {
    const polls = await poller.stop();
    result.worstLivezMs = polls.worst;
    result.duringWorstLivez = spans
      .filter(([from, to]) => to >= polls.worstAt && from <= polls.worstAt + polls.worst)
      .map(([, , request]) => JSON.stringify(request).slice(0, 300));
    result.livezPolls = polls.polls;
    result.livezFailures = polls.failures;
    result.durationMs = performance.now() - started;
  }
  return result;
}
