import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/**
 * At most this many mutation fields in one operation. Every mutation here is a login, a change to
 * an account or a session, each with its own transaction, limits and webhooks; one request asking
 * for many (100 aliased `updateProfile`s) would multiply them past every per-request brake. No
 * client needs two in one operation: each is a request of its own.
 */
export const MAX_MUTATION_FIELDS = 1;

/**
 * Refuses a mutation operation with more than `max` root fields (GRAPHQL_VALIDATION_FAILED),
 * counted through aliases, inline fragments and fragment spreads, whatever their directives (a
 * field under `@skip(if: $v)` counts: the variable could be false). Linear in the document: a
 * fragment's count is computed once and remembered, and counts stop at max + 1.
 */
export function mutationLimitRule(max = MAX_MUTATION_FIELDS): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, number>();
    const count = (set: SelectionSetNode, visiting: Set<string>): number => {
      let fields = 0;
      for (const selection of set.selections) {
        if (fields > max) break;
        if (selection.kind === Kind.FIELD) fields += selection.name.value === '__typename' ? 0 : 1;
        else if (selection.kind === Kind.INLINE_FRAGMENT) fields += count(selection.selectionSet, visiting);
        else {
          const name = selection.name.value;
          let known = fragments.get(name);
          if (known === undefined) {
            const definition = context.getFragment(name);
            // A cycle is NoFragmentCycles' to report; here it adds nothing.
            if (!definition || visiting.has(name)) continue;
            visiting.add(name);
            known = count(definition.selectionSet, visiting);
            visiting.delete(name);
            fragments.set(name, known);
          }
          fields += known;
        }
      }
      return Math.min(fields, max + 1);
    };
    return {
      OperationDefinition(operation) {
        if (operation.operation !== 'mutation') return;
        if (count(operation.selectionSet, new Set()) > max) {
          context.reportError(
            new GraphQLError(
              `A mutation operation may ask for ${max === 1 ? 'one mutation' : `${max} mutations`}: ` +
                'send each of the others as a request of its own',
              { nodes: [operation] },
            ),
          );
        }
      },
    };
  };
}
