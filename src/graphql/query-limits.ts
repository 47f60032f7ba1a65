import {
  GraphQLError,
  Kind,
  type ASTVisitor,
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
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    // One meter per document: operations that spread the same fragment share its measurement.
    const meter = new SelectionMeter((name) => context.getFragment(name), maxFields + 1);
    return {
      OperationDefinition(operation) {
        if (operation.operation === 'subscription') {
          context.reportError(new GraphQLError('This server has no subscriptions', { nodes: [operation] }));
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
