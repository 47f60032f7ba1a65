import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type DocumentNode, type SelectionSetNode } from 'graphql';
import type { Metrics } from './metrics.js';

/** The label of an operation that never resolved (a syntax error, a failed validation, no such operation). */
export const INVALID_OPERATION = '(invalid)';
/** The label of an operation asking for more than one root field (a label per set would be unbounded). */
export const SEVERAL_ROOT_FIELDS = '(several)';

/**
 * The root field an operation asks for, by the schema's name (never the client's alias or
 * operationName): one name, `(several)` for more than one, `__typename` for that alone. Fragments
 * at the root are followed. Called after validation, so every name is a field of the schema.
 */
export function rootFieldOf(selectionSet: SelectionSetNode, document: DocumentNode): string {
  const names = new Set<string>();
  const visit = (set: SelectionSetNode, depth: number) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) names.add(selection.name.value);
      else if (depth < 8 && selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet, depth + 1);
      else if (depth < 8 && selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = document.definitions.find(
          (d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
        );
        if (fragment?.kind === Kind.FRAGMENT_DEFINITION) visit(fragment.selectionSet, depth + 1);
      }
    }
  };
  visit(selectionSet, 0);
  if (names.size > 1) names.delete('__typename');
  if (names.size === 1) return names.values().next().value!;
  return names.size === 0 ? INVALID_OPERATION : SEVERAL_ROOT_FIELDS;
}

/** Times every GraphQL operation into `graphqlDuration`, labelled by type and root field. */
export function graphqlMetricsPlugin<C extends object>(metrics: Metrics): ApolloServerPlugin<C> {
  const histogram = metrics.graphqlDuration;
  return {
    async requestDidStart() {
      const started = performance.now();
      let operationType = 'unknown';
      let rootField = INVALID_OPERATION;
      return {
        async didResolveOperation({ operation, document }) {
          if (!operation) return;
          operationType = operation.operation;
          rootField = rootFieldOf(operation.selectionSet, document);
        },
        async willSendResponse() {
          histogram.observe(
            { operation_type: operationType, root_field: rootField },
            (performance.now() - started) / 1000,
          );
        },
      };
    },
  };
}
