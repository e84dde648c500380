import { resourceGroupOfId, watcherListPath, watcherPath } from '../arm-paths.js';
import { connect, type ConnectedClient } from '../client-factory.js';
import { writeLine, type CliContext, type CommonOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { beginAndWait } from '../lro.js';
import { parseBooleanOption } from '../option-values.js';
import { writeOutput } from '../output.js';
import { listValue, shapeWatcher } from '../shape.js';
import {
  defineCommand,
  defineGroup,
  type Declaration,
  type OptionTable,
  type OptionValues,
} from '../command-declaration.js';

/** The flags of `nw network watcher configure`. */
export const WATCHER_CONFIGURE_OPTIONS = {
  locations: {
    flags: '-l, --locations <locations...>',
    description: 'locations (space-separated)',
    required: true,
  },
  resourceGroup: { flags: '-g, --resource-group <rg>', description: 'resource group for new watchers' },
  enabled: {
    flags: '--enabled <bool>',
    parsed: 'boolean',
    description: 'true: create missing watchers; false: delete them',
  },
  tags: { flags: '--tags <tags...>', description: 'KEY=VALUE tags' },
} as const satisfies OptionTable;

/** Options of `nw network watcher configure`. */
export type WatcherConfigureOptions = CommonOptions & OptionValues<typeof WATCHER_CONFIGURE_OPTIONS>;

/** `--tags a=b c=d` into an object; `--tags ""` clears. */
export function parseTags(values: string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const tags: Record<string, string> = {};
  for (const value of values) {
    if (value === '') continue;
    const index = value.indexOf('=');
    if (index === 0) throw new UsageError(`argument --tags: invalid tag '${value}' (expected KEY[=VALUE])`);
    if (index < 0) tags[value] = '';
    else tags[value.slice(0, index)] = value.slice(index + 1);
  }
  return tags;
}

async function listWatchers(conn: ConnectedClient): Promise<Array<Record<string, unknown>>> {
  const response = await conn.client.request('GET', watcherListPath(conn.subscriptionId));
  return listValue(response.body).map(shapeWatcher);
}

/**
 * `nw network watcher list`: every network watcher of the subscription.
 * @example await watcherList({ output: 'table' }, ctx);
 */
export async function watcherList(options: CommonOptions, ctx: CliContext): Promise<Array<Record<string, unknown>>> {
  const conn = connect(ctx, options);
  const watchers = await listWatchers(conn);
  writeOutput(ctx.out, watchers, options.output);
  return watchers;
}

/**
 * `nw network watcher configure`: as az, creates `NetworkWatcher_{location}` in the given
 * resource group for each location without a watcher (`--enabled true`), deletes the watchers
 * of the locations (`--enabled false`), or updates tags; prints every watcher afterwards.
 */
export async function watcherConfigure(
  options: WatcherConfigureOptions,
  ctx: CliContext,
): Promise<Array<Record<string, unknown>>> {
  const locations = (options.locations ?? []).flatMap((l) => l.split(/[\s,]+/)).filter((l) => l.length > 0);
  if (locations.length === 0) throw new UsageError('the following arguments are required: --locations/-l');
  const enabled = parseBooleanOption('--enabled', options.enabled);
  const tags = parseTags(options.tags);
  const conn = connect(ctx, options);
  const all = await listWatchers(conn);
  const wanted = new Set(locations.map((l) => l.toLowerCase()));
  const existing = all.filter((w) => wanted.has(String(w['location'] ?? '').toLowerCase()));
  const haveLocation = new Set(existing.map((w) => String(w['location']).toLowerCase()));
  const missing = locations.filter(
    (l, i) =>
      !haveLocation.has(l.toLowerCase()) && locations.findIndex((m) => m.toLowerCase() === l.toLowerCase()) === i,
  );

  const updateTags = async () => {
    if (tags === undefined) return;
    for (const watcher of existing) {
      const group = resourceGroupOfId(String(watcher['id'] ?? ''));
      if (!group) continue;
      await conn.client.request('PUT', watcherPath(conn.subscriptionId, group, String(watcher['name'])), {
        body: { location: watcher['location'], tags },
      });
    }
  };

  if (enabled === undefined) {
    if (options.resourceGroup)
      writeLine(
        ctx.err,
        `WARNING: Resource group '${options.resourceGroup}' is only used when enabling new regions and will be ignored.`,
      );
    for (const location of missing)
      writeLine(ctx.err, `WARNING: Region '${location}' is not enabled for Network Watcher and will be ignored.`);
    await updateTags();
  } else if (enabled) {
    if (missing.length > 0 && !options.resourceGroup)
      throw new UsageError("usage error: '--resource-group' required when enabling new regions");
    for (const location of missing) {
      const body: Record<string, unknown> = { location };
      if (tags !== undefined) body['tags'] = tags;
      await conn.client.request(
        'PUT',
        watcherPath(conn.subscriptionId, options.resourceGroup!, `NetworkWatcher_${location}`),
        { body },
      );
    }
    await updateTags();
  } else {
    if (tags !== undefined) throw new UsageError("usage error: '--tags' cannot be used when disabling regions");
    for (const watcher of existing) {
      const group = resourceGroupOfId(String(watcher['id'] ?? ''));
      if (!group) continue;
      writeLine(
        ctx.err,
        `WARNING: Disabling Network Watcher for region '${String(watcher['location'])}' by deleting resource '${String(watcher['id'])}'`,
      );
      await beginAndWait(
        conn.client,
        'DELETE',
        watcherPath(conn.subscriptionId, group, String(watcher['name'])),
        {},
        { pollIntervalInMs: conn.pollIntervalInMs },
      );
    }
  }
  const after = await listWatchers(conn);
  writeOutput(ctx.out, after, options.output);
  return after;
}

/** The commands of this file, in help order. */
export const NETWORK_WATCHER_COMMANDS: readonly Declaration[] = [
  defineGroup({ path: ['network'], description: 'network watcher' }),
  defineGroup({
    path: ['network', 'watcher'],
    description: 'network watchers (one per location) and their packet captures',
  }),
  defineCommand({
    path: ['network', 'watcher', 'list'],
    description: 'list the network watchers',
    examples: ['nw network watcher list -o table'],
    run: (o, { ctx }) => watcherList(o, ctx),
  }),
  defineCommand({
    path: ['network', 'watcher', 'configure'],
    description: 'enable (create NetworkWatcher_LOCATION) or disable network watchers for locations',
    examples: [
      'nw network watcher configure --locations westcentralus --resource-group NetworkWatcherRG --enabled true',
      'nw network watcher configure -l westus eastus --enabled false',
    ],
    options: WATCHER_CONFIGURE_OPTIONS,
    run: (o, { ctx }) => watcherConfigure(o, ctx),
  }),
];
