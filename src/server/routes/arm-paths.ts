/** Route path prefixes (Fastify matches them case-insensitively: ARM paths are). */
export const SUB = '/subscriptions/:sub';
export const RG = `${SUB}/resourceGroups/:rg`;
export const WATCHERS = `${RG}/providers/Microsoft.Network/networkWatchers`;
export const CAPTURES = `${WATCHERS}/:nw/packetCaptures`;
export const VMS = `${RG}/providers/Microsoft.Compute/virtualMachines`;
export const STORAGE = `${RG}/providers/Microsoft.Storage/storageAccounts`;

/** Path parameters of ARM routes. */
export interface ArmParams {
  sub: string;
  rg: string;
  nw: string;
  pc: string;
  vm: string;
  ext: string;
  name: string;
  loc: string;
  id: string;
}
