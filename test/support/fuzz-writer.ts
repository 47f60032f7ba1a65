import fc from 'fast-check';
import {
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
 * The random choices of the fuzz requests (fuzz-requests.ts) and the writer of their structured
 * documents: operations and fragments over the schema's real types and fields, with deliberate
 * mistakes in about half of them.
 */

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
export const DIRECTIVES = [
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

export const words = (n: number, word: (i: number) => string) =>
  Array.from({ length: n }, (_, i) => word(i)).join(' ');

/** A structured document: operations and fragments over the schema's real types and fields. */
export class DocumentWriter {
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
