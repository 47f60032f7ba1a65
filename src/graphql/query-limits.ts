import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/** Limits on what one GraphQL document may ask (flooding with deep or wide queries). */
export const QUERY_LIMITS = {
  /** Nesting of fields, introspection excluded (our deepest useful query is 4). */
  maxDepth: 8,
  /** Fields in an operation, counted through fragments and aliases (an aliased field costs again). */
  maxFields: 200,
  /** Tokens graphql-js will parse before giving up (bounds parsing time and memory). */
  maxTokens: 5000,
};

/**
 * Rejects an operation deeper than `maxDepth` or with more than `maxFields` fields
 * (GRAPHQL_VALIDATION_FAILED). An introspection subtree (`__schema`, `__type`) counts as one field.
 */
export function queryLimitRule(
  maxDepth = QUERY_LIMITS.maxDepth,
  maxFields = QUERY_LIMITS.maxFields,
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      if (operation.operation === 'subscription') {
        context.reportError(new GraphQLError('This server has no subscriptions', { nodes: [operation] }));
        return;
      }
      let fields = 0;
      let deepest = 0;
      const walk = (set: SelectionSetNode, depth: number, seen: Set<string>): void => {
        // Past the limit: record how deep it went (so the error fires) and look no further.
        deepest = Math.max(deepest, depth);
        if (depth > maxDepth || fields > maxFields) return;
        for (const selection of set.selections) {
          if (selection.kind === Kind.FIELD) {
            fields += 1;
            // An introspection subtree counts as one field, whatever its depth: Sandbox needs it.
            if (selection.name.value === '__schema' || selection.name.value === '__type') continue;
            if (selection.selectionSet) walk(selection.selectionSet, depth + 1, seen);
          } else if (selection.kind === Kind.INLINE_FRAGMENT) {
            walk(selection.selectionSet, depth, seen);
          } else {
            const name = selection.name.value;
            const fragment = context.getFragment(name);
            if (fragment && !seen.has(name)) walk(fragment.selectionSet, depth, new Set(seen).add(name));
          }
        }
      };
      walk(operation.selectionSet, 1, new Set());
      if (deepest > maxDepth) {
        context.reportError(
          new GraphQLError(`The operation is nested deeper than ${maxDepth} levels`, { nodes: [operation] }),
        );
      } else if (fields > maxFields) {
        context.reportError(
          new GraphQLError(`The operation asks for more than ${maxFields} fields`, { nodes: [operation] }),
        );
      }
    },
  });
}
