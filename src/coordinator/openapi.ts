/**
 * Finishing pass over the generated OpenAPI 3.1 document (fastify-swagger's `transformObject`), so the
 * contract lints clean with Redocly's recommended rules (test/coordinator/openapi.test.ts):
 * - every operation declares its error answers: RFC 9457 `application/problem+json` under `4XX`
 *   (and `5XX`), once, in `components.responses`, since the one problem handler answers every route;
 * - wildcard routes (`/agent/outputs/:jobId/*`) get a named path parameter `{path}` instead of `{*}`;
 * - `servers` names this coordinator relatively (`/`), `info.license` the package's licence.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'];

/** RFC 9457 problem details with vidmesh's stable `code` (src/coordinator/plugins/problem.ts). */
export const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string', description: 'URN naming the code, e.g. urn:vidmesh:problem:job_not_found' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'stable machine-readable code (snake_case)' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
  },
} as const;

export function finishOpenApi<T extends Obj>(doc: T, options: { license: string }): T {
  const out: Obj = { ...doc };
  out.servers = [{ url: '/', description: 'this coordinator' }];
  out.info = {
    ...(isObj(doc.info) ? doc.info : {}),
    license: { name: options.license, identifier: options.license },
  };
  const components = isObj(doc.components) ? { ...doc.components } : {};
  const problem = {
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  };
  components.schemas = { ...(isObj(components.schemas) ? components.schemas : {}), Problem: PROBLEM_SCHEMA };
  components.responses = {
    ...(isObj(components.responses) ? components.responses : {}),
    ClientError: { description: 'The request was refused (RFC 9457 problem details)', ...problem },
    ServerError: {
      description: 'The coordinator failed (RFC 9457 problem details, no internals)',
      ...problem,
    },
  };
  out.components = components;
  const paths: Obj = {};
  for (const [path, item] of Object.entries(isObj(doc.paths) ? doc.paths : {})) {
    if (!isObj(item)) continue;
    const named = path.replace('{*}', '{path}');
    const methods: Obj = { ...item };
    for (const m of METHODS) {
      const op = item[m];
      if (!isObj(op)) continue;
      const params = Array.isArray(op.parameters)
        ? op.parameters.map((p) =>
            isObj(p) && p.in === 'path' && p.name === '*' ? { ...p, name: 'path' } : p,
          )
        : op.parameters;
      const responses = isObj(op.responses) ? { ...op.responses } : {};
      if (!Object.keys(responses).some((k) => k.startsWith('4'))) {
        responses['4XX'] = { $ref: '#/components/responses/ClientError' };
      }
      if (!Object.keys(responses).some((k) => k.startsWith('5'))) {
        responses['5XX'] = { $ref: '#/components/responses/ServerError' };
      }
      methods[m] = { ...op, ...(params ? { parameters: params } : {}), responses };
    }
    paths[named] = methods;
  }
  out.paths = paths;
  return out as T;
}
