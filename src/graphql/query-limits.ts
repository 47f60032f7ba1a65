import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/** Limits on what one GraphQL document may ask (flooding with deep or wide queries). */
export const QUERY_LIMITS = {
  /** Nesting of fields, introspection excluded (our deepest useful query is 4). */
  maxDepth: 8,
  /**
   * Fields in an operation, counted through fragments and aliases (an aliased field costs again),
   * and each fragment spread counted as one more.
   */
  maxFields: 200,
  /** Tokens graphql-js will parse before giving up (bounds parsing time and memory). */
  maxTokens: 5000,
};

/** What a selection set asks, expanded: fields (spreads included, saturating) and nesting below it. */
export interface SelectionCost {
  /** Fields and fragment spreads, as if every fragment were written out; capped (see measure). */
  fields: number;
  /** Levels of fields with selections of their own below this set (a set of leaf fields is 0). */
  depth: number;
}

/**
 * Measures selection sets of one document, each fragment once: a fragment's cost is computed the
 * first time it is spread and remembered by name, so the work is one visit of each selection in
 * the document, however often and however deeply fragments spread each other (k fragments that
 * spread each other cost k visits, not k! paths). Counts saturate at `cap`: a number past the
 * limit is all the caller needs. A fragment that spreads itself, directly or not, counts as empty
 * here; the standard NoFragmentCycles rule refuses the document.
 */
export class SelectionMeter {
  /** Selections visited so far: what tests hold against the document's size. */
  steps = 0;
  private readonly fragments = new Map<string, SelectionCost>();
  private readonly measuring = new Set<string>();

  constructor(
    private readonly fragment: (name: string) => FragmentDefinitionNode | null | undefined,
    private readonly cap: number,
  ) {}

  measure(set: SelectionSetNode): SelectionCost {
    let fields = 0;
    let depth = 0;
    const add = (n: number) => (fields = Math.min(this.cap, fields + n));
    for (const selection of set.selections) {
      this.steps += 1;
      if (selection.kind === Kind.FIELD) {
        add(1);
        // An introspection subtree counts as one field, whatever its depth: Sandbox needs it.
        const name = selection.name.value;
        if (name === '__schema' || name === '__type' || !selection.selectionSet) continue;
        const below = this.measure(selection.selectionSet);
        add(below.fields);
        depth = Math.max(depth, 1 + below.depth);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const inner = this.measure(selection.selectionSet);
        add(inner.fields);
        depth = Math.max(depth, inner.depth);
      } else {
        const spread = this.spread(selection.name.value);
        add(1 + spread.fields);
        depth = Math.max(depth, spread.depth);
      }
    }
    return { fields, depth };
  }

  private spread(name: string): SelectionCost {
    const known = this.fragments.get(name);
    if (known) return known;
    const definition = this.fragment(name);
    if (!definition || this.measuring.has(name)) return { fields: 0, depth: 0 };
    this.measuring.add(name);
    const cost = this.measure(definition.selectionSet);
    this.measuring.delete(name);
    this.fragments.set(name, cost);
    return cost;
  }
}

/**
 * Rejects an operation deeper than `maxDepth` or with more than `maxFields` fields
 * (GRAPHQL_VALIDATION_FAILED). An introspection subtree (`__schema`, `__type`) counts as one field.
 * Its work is linear in the document (SelectionMeter).
 */
export function queryLimitRule(
  maxDepth = QUERY_LIMITS.maxDepth,
  maxFields = QUERY_LIMITS.maxFields,
  /** Told of each document's meter once its operations are measured (tests count its steps). */
  onMeasured?: (meter: SelectionMeter) => void,
  /** Subscriptions are refused over HTTP; the WebSocket side (src/server/subscriptions.ts) takes them. */
  allowSubscriptions = false,
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    // One meter per document: operations that spread the same fragment share its measurement.
    const meter = new SelectionMeter((name) => context.getFragment(name), maxFields + 1);
    return {
      OperationDefinition(operation) {
        if (operation.operation === 'subscription' && !allowSubscriptions) {
          context.reportError(
            new GraphQLError('Subscriptions go over WebSocket (graphql-ws) on /graphql, not over HTTP', {
              nodes: [operation],
            }),
          );
          return;
        }
        const { fields, depth } = meter.measure(operation.selectionSet);
        // The root's fields are level 1.
        if (depth + 1 > maxDepth) {
          context.reportError(
            new GraphQLError(`The operation is nested deeper than ${maxDepth} levels`, {
              nodes: [operation],
            }),
          );
        } else if (fields > maxFields) {
          context.reportError(
            new GraphQLError(`The operation asks for more than ${maxFields} fields`, { nodes: [operation] }),
          );
        }
      },
      Document: {
        leave() {
          onMeasured?.(meter);
        },
      },
    };
  };
}

/**
 * Limits on the whole document, checked before graphql-js's own rules look at it
 * (documentLimitRule), because what those cost grows faster than the document: at the token cap
 * (maxTokens) OverlappingFieldsCanBeMerged, which compares every two fields of one response name
 * and every two fragments spread side by side, took 60-115 ms of one core for one document of
 * 11-25 KB (1 249 `me { id }` under one name; 555 fragments spread side by side), graphql-js
 * stopping it only at its budget of 500 000 comparisons. Within these limits the worst document
 * found validates in about 10 ms (docs/security.md, "Expensive documents", has the figures).
 */
export const DOCUMENT_LIMITS = {
  /**
   * Selections written in the whole document: fields, fragment spreads and inline fragments,
   * introspection's included, every operation and fragment of it (all are validated, however few
   * run), a fragment once however often it is spread (QUERY_LIMITS.maxFields counts an operation's
   * fields as if fragments were written out). The full introspection query that GraphiQL, Apollo
   * Sandbox and codegen tools send (graphql-js's getIntrospectionQuery, every option on) writes
   * 81; all 20 operations of examples/graphql/ together 67. At 300: at most about 10 ms to
   * validate as measured, 15-30 ms at 400, 60-115 ms at the token cap.
   */
  maxSelections: 300,
  /**
   * Introspection selections (a field named `__…`, what is below it, a fragment or inline fragment
   * on an introspection type) one operation asks, counted through its fragments as if written out
   * (the full introspection query: 240). Introspection runs over the schema and maxFields does
   * not bound it (an introspection subtree counts as one field there): 50 aliased copies of
   * `types { fields { args { name } type { name } } }` each walk the schema again, 15 ms to run
   * and 170 KB to send; 110-150 ms and 1 MB at the token cap.
   */
  maxOperationIntrospectionSelections: 300,
};

/** What measureDocument found, and the steps it took (tests hold them against the document's size). */
export interface DocumentSize {
  /** Selections written in the whole document, introspection's included. */
  selections: number;
  /** Per operation, in order: introspection selections counted through fragments; capped. */
  operationIntrospection: number[];
  /** Selections and fragment spreads visited: at most two per selection written. */
  steps: number;
}

const isIntrospectionName = (name: string | undefined) => name?.startsWith('__') ?? false;

/** One definition's introspection selections as written, and the fragments it spreads. */
interface DefinitionCounts {
  introspection: number;
  spreads: string[];
}

/**
 * Counts the selections of a document in one pass, without recursion (however deep the
 * document, no stack is used), then, if the document is within maxSelections, each operation's
 * introspection selections through its fragments, each fragment's total computed once and
 * remembered (k fragments spreading each other cost k, not k! paths), saturating at `cap`.
 */
export function measureDocument(
  document: DocumentNode,
  limits: typeof DOCUMENT_LIMITS = DOCUMENT_LIMITS,
): DocumentSize {
  let steps = 0;
  let selections = 0;
  const fragments = new Map<string, DefinitionCounts>();
  const operations: DefinitionCounts[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION && definition.kind !== Kind.FRAGMENT_DEFINITION)
      continue;
    const counts: DefinitionCounts = { introspection: 0, spreads: [] };
    const onIntrospectionType =
      definition.kind === Kind.FRAGMENT_DEFINITION &&
      isIntrospectionName(definition.typeCondition.name.value);
    const stack: Array<[SelectionSetNode, boolean]> = [[definition.selectionSet, onIntrospectionType]];
    for (let next = stack.pop(); next; next = stack.pop()) {
      const [set, inIntrospection] = next;
      for (const selection of set.selections) {
        steps += 1;
        selections += 1;
        let introspection = inIntrospection;
        if (selection.kind === Kind.FIELD) introspection ||= isIntrospectionName(selection.name.value);
        else if (selection.kind === Kind.INLINE_FRAGMENT)
          introspection ||= isIntrospectionName(selection.typeCondition?.name.value);
        else counts.spreads.push(selection.name.value);
        if (introspection) counts.introspection += 1;
        if (selection.kind !== Kind.FRAGMENT_SPREAD && selection.selectionSet)
          stack.push([selection.selectionSet, introspection]);
      }
    }
    if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(counts);
    // A repeated name is UniqueFragmentNames' to refuse; the first one is measured here.
    else if (!fragments.has(definition.name.value)) fragments.set(definition.name.value, counts);
  }
  if (selections > limits.maxSelections) return { selections, operationIntrospection: [], steps };

  // Through fragments: each fragment's total once. A cycle adds nothing (NoFragmentCycles refuses
  // it). The recursion is as deep as a chain of fragments, which maxSelections keeps short.
  const cap = limits.maxOperationIntrospectionSelections + 1;
  const totals = new Map<string, number>();
  const visiting = new Set<string>();
  const through = (counts: DefinitionCounts): number => {
    let total = counts.introspection;
    for (const name of counts.spreads) {
      if (total >= cap) break;
      steps += 1;
      total += fragmentTotal(name);
    }
    return Math.min(total, cap);
  };
  const fragmentTotal = (name: string): number => {
    const known = totals.get(name);
    if (known !== undefined) return known;
    const counts = fragments.get(name);
    if (!counts || visiting.has(name)) return 0;
    visiting.add(name);
    const total = through(counts);
    visiting.delete(name);
    totals.set(name, total);
    return total;
  };
  const operationIntrospection = operations.map(through);
  return { selections, operationIntrospection, steps };
}

/**
 * Refuses a document over DOCUMENT_LIMITS (GRAPHQL_VALIDATION_FAILED) before graphql-js's own
 * rules spend time on it. Apollo validates with its specifiedRules followed by ours, all in one
 * visitor pass over the document. This rule's Document visitor measures the whole document first
 * (measureDocument, linear) and, when it is over a limit, reports why and returns an empty
 * document: graphql-js's visit() takes a node an enter function returns as the replacement of the
 * one entered and goes on into it, so no rule visits any operation or fragment of the refused
 * document (the rules listed before this one have only run their Document enter functions:
 * ExecutableDefinitions and LoneAnonymousOperation, one loop over the definitions each). The
 * document Apollo holds is not changed, and Apollo keeps only documents that validate.
 */
export function documentLimitRule(
  limits: typeof DOCUMENT_LIMITS = DOCUMENT_LIMITS,
  /** Told of each document's measurement (tests count its steps). */
  onMeasured?: (size: DocumentSize) => void,
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    Document(document) {
      const size = measureDocument(document, limits);
      onMeasured?.(size);
      let refused = false;
      const refuse = (message: string) => {
        context.reportError(new GraphQLError(message));
        refused = true;
      };
      if (size.selections > limits.maxSelections)
        refuse(`The document has more than ${limits.maxSelections} selections`);
      if (size.operationIntrospection.some((n) => n > limits.maxOperationIntrospectionSelections))
        refuse(
          `An operation asks for more than ${limits.maxOperationIntrospectionSelections} introspection selections`,
        );
      if (!refused) return undefined;
      const empty: DocumentNode = { kind: Kind.DOCUMENT, definitions: [] };
      return empty;
    },
  });
}
