import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../lib/index.js';
import { AGENT_EXTENSION } from '../../model/index.js';
import type { ServerContext } from '../services/context.js';
import { SUB, type ArmParams } from './arm-paths.js';

/**
 * The extension handler versions this server installs. az trims a version to major.minor
 * (`_normalize_extension_version`), so `1.4.0` becomes the `1.4` that `nw vm extension set` uses.
 */
export const AGENT_EXTENSION_IMAGE_VERSIONS = [`${AGENT_EXTENSION.typeHandlerVersion}.0`] as const;

const IMAGES = `${SUB}/providers/Microsoft.Compute/locations/:loc/publishers`;

/** Is this the agent's publisher (and, when given, its Linux type)? */
function isAgent(publisher: string, type?: string): boolean {
  return (
    publisher.toLowerCase() === AGENT_EXTENSION.publisher.toLowerCase() &&
    (type === undefined || type.toLowerCase() === AGENT_EXTENSION.linuxType.toLowerCase())
  );
}

/**
 * Extension image lookups (VirtualMachineExtensionImages_* and the publisher list), which
 * `az vm extension set` without `--version` sends to find the latest version. Azure answers them
 * with bare JSON arrays, not `{"value": …}`; only the agent's publisher and type exist here.
 */
export function registerExtensionImageRoutes(app: FastifyInstance, _ctx: ServerContext): void {
  const base = (sub: string, loc: string) =>
    `/subscriptions/${sub}/providers/Microsoft.Compute/locations/${loc}/publishers`;
  const notFound = (what: string) =>
    new ApiError(
      'NotFound',
      `${what} is not offered here: netwatcher offers only the extension '${AGENT_EXTENSION.publisher}.${AGENT_EXTENSION.linuxType}'.`,
    );

  app.get<{ Params: ArmParams }>(IMAGES, async (req) => [
    {
      name: AGENT_EXTENSION.publisher,
      location: req.params.loc,
      id: `${base(req.params.sub, req.params.loc)}/${AGENT_EXTENSION.publisher}`,
    },
  ]);

  app.get<{ Params: ArmParams & { pub: string } }>(`${IMAGES}/:pub/artifacttypes/vmextension/types`, async (req) => {
    if (!isAgent(req.params.pub)) throw notFound(`Publisher '${req.params.pub}'`);
    const id = `${base(req.params.sub, req.params.loc)}/${AGENT_EXTENSION.publisher}/artifacttypes/vmextension/types/${AGENT_EXTENSION.linuxType}`;
    return [{ name: AGENT_EXTENSION.linuxType, location: req.params.loc, id }];
  });

  app.get<{ Params: ArmParams & { pub: string; type: string } }>(
    `${IMAGES}/:pub/artifacttypes/vmextension/types/:type/versions`,
    async (req) => {
      if (!isAgent(req.params.pub, req.params.type))
        throw notFound(`Extension type '${req.params.pub}.${req.params.type}'`);
      const prefix = `${base(req.params.sub, req.params.loc)}/${AGENT_EXTENSION.publisher}/artifacttypes/vmextension/types/${AGENT_EXTENSION.linuxType}/versions`;
      return AGENT_EXTENSION_IMAGE_VERSIONS.map((v) => ({ name: v, location: req.params.loc, id: `${prefix}/${v}` }));
    },
  );

  app.get<{ Params: ArmParams & { pub: string; type: string; version: string } }>(
    `${IMAGES}/:pub/artifacttypes/vmextension/types/:type/versions/:version`,
    async (req) => {
      const { pub, type, version, sub, loc } = req.params;
      if (!isAgent(pub, type) || !AGENT_EXTENSION_IMAGE_VERSIONS.some((v) => v === version))
        throw notFound(`Extension image '${pub}.${type}' version '${version}'`);
      return {
        name: version,
        location: loc,
        id: `${base(sub, loc)}/${AGENT_EXTENSION.publisher}/artifacttypes/vmextension/types/${AGENT_EXTENSION.linuxType}/versions/${version}`,
        properties: {
          operatingSystem: 'Linux',
          computeRole: 'IaaS',
          handlerSchema: '',
          vmScaleSetEnabled: false,
          supportsMultipleExtensions: false,
        },
      };
    },
  );
}
