/** A GraphQL response body as a client reads it. */
export interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: unknown[] }>;
}

/** POSTs an operation to `${baseUrl}/graphql`; the HTTP status and the parsed body. */
export async function postGraphQL<T = unknown>(
  baseUrl: string,
  query: string,
  variables?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: GraphQLBody<T> }> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as GraphQLBody<T> };
}

/** The `extensions.code` of a response's first error: what a client branches on. */
export function errorCode(body: { errors?: Array<{ extensions?: Record<string, unknown> }> }): unknown {
  return body.errors?.[0]?.extensions?.code;
}
