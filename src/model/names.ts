import { ApiError } from '../lib/index.js';

/**
 * ARM's naming rules, per resource type
 * (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
 * A name is one segment of a resource id: it can never hold `/` (an encoded slash, `%2F`, is
 * decoded before routing and would otherwise let one resource's name address another's id),
 * NUL, control characters or lone UTF-16 surrogates (PostgreSQL refuses them: a 500, not a 400).
 */
export interface ResourceNameRule {
  /** What the name is called in errors and in `target` (ARM's parameter names). */
  field: string;
  /** What kind of resource it names, in messages. */
  what: string;
  minLength: number;
  maxLength: number;
  /** The allowed shape; checked after the characters every name refuses. */
  pattern: RegExp;
  /** The rule in words, for the error message. */
  rule: string;
}

// Microsoft.Network's common rule (watchers, captures): word characters, '.', '-', '_'; starts with one, ends with one or '_'.
const NETWORK_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const NETWORK_RULE =
  "letters, digits, '.', '-' and '_', starting with a letter, digit or '_' and ending with a letter, digit or '_'";

/** The rules, keyed by the id segment that precedes the name (`…/networkWatchers/{name}`), lower-cased. */
export const RESOURCE_NAME_RULES: Readonly<Record<string, ResourceNameRule>> = {
  resourcegroups: {
    field: 'resourceGroupName',
    what: 'resource group',
    minLength: 1,
    maxLength: 90,
    // Unicode letters and digits, '_', '(', ')', '-', '.'; not ending with '.'.
    pattern: /^[\p{L}\p{N}_()\-.]*[\p{L}\p{N}_()-]$/u,
    rule: "letters, digits, '_', '(', ')', '-' and '.', not ending with '.'",
  },
  networkwatchers: {
    field: 'networkWatcherName',
    what: 'network watcher',
    minLength: 1,
    maxLength: 80,
    pattern: NETWORK_NAME,
    rule: NETWORK_RULE,
  },
  packetcaptures: {
    field: 'packetCaptureName',
    what: 'packet capture',
    minLength: 1,
    maxLength: 80,
    pattern: NETWORK_NAME,
    rule: NETWORK_RULE,
  },
  virtualmachines: {
    field: 'vmName',
    what: 'virtual machine',
    minLength: 1,
    maxLength: 64,
    // Linux VMs: no spaces or punctuation beyond '.', '-', '_'; not ending with '.' (hostnames of `nw up` keep '_').
    pattern: /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?$/,
    rule: "letters, digits, '.', '-' and '_', starting with a letter, digit or '_' and not ending with '.'",
  },
  // Scale sets (issue 14): Azure's rule for Linux scale sets, 1 to 64 characters like a VM's name.
  virtualmachinescalesets: {
    field: 'vmScaleSetName',
    what: 'virtual machine scale set',
    minLength: 1,
    maxLength: 64,
    pattern: /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?$/,
    rule: "letters, digits, '.', '-' and '_', starting with a letter, digit or '_' and not ending with '.'",
  },
  extensions: {
    field: 'vmExtensionName',
    what: 'VM extension',
    minLength: 1,
    maxLength: 80,
    pattern: /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/,
    rule: NETWORK_RULE,
  },
  storageaccounts: {
    field: 'accountName',
    what: 'storage account',
    minLength: 3,
    maxLength: 24,
    pattern: /^[a-z0-9]+$/,
    rule: 'lower-case letters and digits only',
  },
  metricalerts: {
    field: 'ruleName',
    what: 'metric alert rule',
    minLength: 1,
    maxLength: 260,
    // Azure Monitor refuses * # & + : < > ? @ % { } \ / and control characters, and a trailing space or '.'.
    pattern: /^[^*#&+:<>?@%{}\\/]*[^*#&+:<>?@%{}\\/ .]$/,
    rule: "no * # & + : < > ? @ % { } \\ / characters, not ending with a space or '.'",
  },
  actiongroups: {
    field: 'actionGroupName',
    what: 'action group',
    minLength: 1,
    maxLength: 260,
    pattern: /^[^:<>+/&%\\?]*[^:<>+/&%\\? .]$/,
    rule: "no : < > + / & % \\ ? characters, not ending with a space or '.'",
  },
  alertcaptures: {
    field: 'alertCaptureName',
    what: 'alert-capture endpoint',
    minLength: 1,
    maxLength: 80,
    pattern: NETWORK_NAME,
    rule: NETWORK_RULE,
  },
};

/** What every id segment taken from a URL must satisfy (subscriptions, locations, operation ids, and names of any type). */
const MAX_SEGMENT_LENGTH = 260;

/** Why a string may not be part of a resource id or stored text, or null when it may. */
export function forbiddenCharacter(text: string): string | null {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return 'a NUL character';
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0))
      return `a control character (U+${c.toString(16).toUpperCase().padStart(4, '0')})`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return 'a lone UTF-16 surrogate';
    }
    if (c >= 0xdc00 && c <= 0xdfff) return 'a lone UTF-16 surrogate';
  }
  return null;
}

/**
 * Checks one name taken from a request path. `collection` is the id segment before it
 * (`networkWatchers`); `strict` applies the type's whole rule (creating a resource), otherwise
 * only what no segment may hold — so a resource stored before a rule tightened stays reachable.
 * Throws 400 InvalidResourceName naming the field.
 * @example assertResourceName('networkWatchers', 'NetworkWatcher_japaneast', true)
 */
export function assertResourceName(collection: string, name: string, strict: boolean, field?: string): void {
  const rule = RESOURCE_NAME_RULES[collection.toLowerCase()];
  const target = field ?? rule?.field ?? collection;
  const what = rule?.what ?? collection;
  const shown = JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);
  const bad = forbiddenCharacter(name);
  if (name.length === 0) throw new ApiError('InvalidResourceName', `The ${what} name is empty.`, { target });
  if (bad)
    throw new ApiError('InvalidResourceName', `The ${what} name ${shown} is invalid: it contains ${bad}.`, { target });
  if (name.includes('/'))
    throw new ApiError(
      'InvalidResourceName',
      `The ${what} name ${shown} is invalid: it contains '/' (a name is one segment of a resource id).`,
      { target },
    );
  if (name.length > MAX_SEGMENT_LENGTH)
    throw new ApiError(
      'InvalidResourceName',
      `The ${what} name is invalid: it is longer than ${MAX_SEGMENT_LENGTH} characters.`,
      { target },
    );
  if (!strict || !rule) return;
  if (name.length < rule.minLength || name.length > rule.maxLength || !rule.pattern.test(name)) {
    throw new ApiError(
      'InvalidResourceName',
      `The ${what} name ${shown} is invalid: use ${rule.minLength} to ${rule.maxLength} characters, ${rule.rule}.`,
      { target },
    );
  }
}
