import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { buildGraphQLSchema } from '../src/graphql/schema.js';
import { queryLimitRule } from '../src/graphql/query-limits.js';

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
});
