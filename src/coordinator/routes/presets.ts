import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BUILTIN_PRESETS, type LadderPreset, type PresetStore } from '../../jobs/presets.js';

export interface PresetRouteOptions {
  presets: PresetStore;
}

const presetView = z.object({
  name: z.string(),
  /** 0 for built-in presets. */
  version: z.number(),
  builtin: z.boolean(),
  /** The job spec's `ladder` value that uses it. */
  ref: z.string(),
  options: z.record(z.string(), z.unknown()),
  createdAt: z.string().nullable(),
});

const view = (p: LadderPreset): z.infer<typeof presetView> => ({
  name: p.name,
  version: p.version,
  builtin: false,
  ref: `preset:${p.name}`,
  options: p.options as Record<string, unknown>,
  createdAt: p.createdAt.toISOString(),
});

const builtins = (): Array<z.infer<typeof presetView>> =>
  Object.entries(BUILTIN_PRESETS).map(([name, options]) => ({
    name,
    version: 0,
    builtin: true,
    ref: `preset:${name}`,
    options: { ...options },
    createdAt: null,
  }));

const nameParams = z.object({ name: z.string().max(64) });

/**
 * Ladder presets of the caller's tenant (docs/media.md): `GET /presets` (built-in + the tenant's
 * latest versions), `GET /presets/:name[?version=N]`, `PUT /presets/:name` (body: ladder options;
 * adds a version), `DELETE /presets/:name` (every version). Another tenant's presets are 404.
 */
export const presetRoutes: FastifyPluginAsyncZod<PresetRouteOptions> = async (app, { presets }) => {
  const tenantOf = (req: { principal?: { tenant?: string } }) => req.principal?.tenant ?? 'default';

  app.get(
    '/presets',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listPresets',
        summary: 'Built-in ladder presets and the latest version of each of the tenant’s',
        tags: ['presets'],
        response: { 200: z.object({ presets: z.array(presetView) }) },
      },
    },
    async (req) => ({ presets: [...builtins(), ...(await presets.list(tenantOf(req))).map(view)] }),
  );

  app.get(
    '/presets/:name',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getPreset',
        summary: 'One ladder preset (latest version, or ?version=N)',
        tags: ['presets'],
        params: nameParams,
        querystring: z.object({ version: z.coerce.number().int().min(1).optional() }),
        response: { 200: z.object({ preset: presetView }) },
      },
    },
    async (req) => {
      const builtin = builtins().find((b) => b.name === req.params.name);
      if (builtin && req.query.version === undefined) return { preset: builtin };
      return { preset: view(await presets.get(tenantOf(req), req.params.name, req.query.version)) };
    },
  );

  app.put(
    '/presets/:name',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'putPreset',
        summary: 'Store ladder options as the next version of a preset',
        tags: ['presets'],
        params: nameParams,
        body: z.record(z.string(), z.unknown()),
        response: { 200: z.object({ preset: presetView }) },
      },
    },
    async (req) => ({ preset: view(await presets.put(tenantOf(req), req.params.name, req.body)) }),
  );

  app.delete(
    '/presets/:name',
    {
      config: { scope: 'submit' },
      schema: {
        operationId: 'deletePreset',
        summary: 'Delete every version of a preset (jobs keep the options they were resolved to)',
        tags: ['presets'],
        params: nameParams,
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      await presets.remove(tenantOf(req), req.params.name);
      return reply.status(204).send(null);
    },
  );
};
