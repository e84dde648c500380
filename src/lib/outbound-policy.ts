import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { Agent as HttpAgent, type AgentOptions as HttpAgentOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { Socket, isIP, type LookupFunction, type NetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseIpv6Words } from './ipv6-words.js';

/**
 * Where the server may connect to on behalf of users (webhooks, completion notifications,
 * storage endpoints). Link-local addresses and the cloud metadata services are refused by
 * default: a user who may register a webhook must not be able to make the server fetch its
 * instance credentials (the classic SSRF: AWS, Azure, GCP and OpenStack serve them on
 * 169.254.169.254, AWS also on fd00:ec2::254 over IPv6, Alibaba on 100.100.100.200;
 * metadata.google.internal resolves to 169.254.169.254).
 */
export const DEFAULT_OUTBOUND_DENY: readonly string[] = [
  '169.254.0.0/16',
  'fe80::/10',
  'fd00:ec2::254/128',
  '100.100.100.200/32',
];

/** A CIDR given to the policy is not one. */
export class OutboundPolicyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundPolicyConfigError';
  }
}

/** A connection was refused by the outbound policy (the code lets callers tell it from network errors, for their logs only). */
export class OutboundAddressRefusedError extends Error {
  readonly code = 'ENW_OUTBOUND_REFUSED';
  constructor(
    readonly address: string,
    readonly rule: string,
  ) {
    super(`connecting to ${address} is refused by the outbound policy (${rule})`);
    this.name = 'OutboundAddressRefusedError';
  }
}

interface Rule {
  text: string;
  family: 4 | 6;
  base: bigint;
  prefix: number;
  action: 'allow' | 'deny';
}

/** The operator's settings (flags `--outbound-deny CIDR`, `--outbound-allow CIDR`). */
export interface OutboundPolicySettings {
  deny?: readonly string[];
  allow?: readonly string[];
}

/** What a name resolver is: node's dns.lookup shape (tests pass one that answers differently each time, as a rebinding DNS server would). */
export type OutboundResolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const defaultResolver: OutboundResolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function parseIpv6(text: string): bigint | null {
  // A zone (fe80::1%eth0) does not change the address.
  const parsed = parseIpv6Words(text.split('%')[0]!);
  return parsed.ok ? parsed.words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n) : null;
}

/**
 * An address as (family, value). IPv4-mapped IPv6 addresses (::ffff:169.254.169.254) count as
 * the IPv4 address they carry: a socket to one reaches the other.
 */
function parseAddress(address: string): { family: 4 | 6; value: bigint } | null {
  if (isIP(address) === 4) {
    const v = parseIpv4(address);
    return v === null ? null : { family: 4, value: v };
  }
  const v6 = isIP(address.split('%')[0]!) === 6 ? parseIpv6(address) : null;
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

function parseRule(text: string, action: Rule['action']): Rule {
  const [addr = '', prefixText, extra] = text.trim().split('/');
  const parsed = parseAddress(addr);
  if (!parsed || extra !== undefined)
    throw new OutboundPolicyConfigError(`'${text}' is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)`);
  const max = parsed.family === 4 ? 32 : 128;
  // A mapped IPv6 CIDR (::ffff:10.0.0.0/104) is the IPv4 one it maps.
  const mappedShift = parsed.family === 4 && isIP(addr) === 6 ? 96 : 0;
  const given = prefixText === undefined ? max + mappedShift : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  const prefix = given - mappedShift;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max)
    throw new OutboundPolicyConfigError(`'${text}': the prefix length must be 0 to ${max + mappedShift}`);
  const bits = BigInt(max - prefix);
  return { text: text.trim(), family: parsed.family, base: (parsed.value >> bits) << bits, prefix, action };
}

/** Why an address may or may not be connected to. */
export interface OutboundDecision {
  allowed: boolean;
  rule: string | null;
}

/**
 * The outbound policy: rules are CIDRs marked allow or deny; for an address the most specific
 * matching rule (longest prefix) decides, a deny winning a tie, and an address no rule matches
 * is allowed. The built-in denials ({@link DEFAULT_OUTBOUND_DENY}) are deny rules like the
 * operator's, so `--outbound-allow 169.254.10.0/24` opens just that range.
 * Connections made through {@link OutboundPolicy.httpAgent}/{@link OutboundPolicy.httpsAgent}
 * check the address they really connect to, after DNS, on every connection: a name that
 * resolved to a public address when it was registered and to 169.254.169.254 later (DNS
 * rebinding) is refused the second time.
 * @example const policy = OutboundPolicy.fromSettings({ deny: ['10.0.0.0/8'] }); policy.decide('10.1.2.3').allowed === false
 */
export class OutboundPolicy {
  private readonly rules: Rule[];

  private constructor(
    rules: Rule[],
    private readonly resolver: OutboundResolver,
  ) {
    this.rules = rules;
  }

  /** The policy of the built-in denials plus the operator's rules; throws {@link OutboundPolicyConfigError} on a bad CIDR. */
  static fromSettings(
    settings: OutboundPolicySettings = {},
    options: { resolver?: OutboundResolver } = {},
  ): OutboundPolicy {
    const rules = [
      ...DEFAULT_OUTBOUND_DENY.map((t) => parseRule(t, 'deny')),
      ...(settings.deny ?? []).map((t) => parseRule(t, 'deny')),
      ...(settings.allow ?? []).map((t) => parseRule(t, 'allow')),
    ];
    return new OutboundPolicy(rules, options.resolver ?? defaultResolver);
  }

  /** Whether an IP address may be connected to, and the rule that decided. */
  decide(address: string): OutboundDecision {
    const parsed = parseAddress(address);
    // Not an address we can read (never from the resolver): refuse rather than guess.
    if (!parsed) return { allowed: false, rule: 'not an IP address' };
    let best: Rule | null = null;
    for (const r of this.rules) {
      if (r.family !== parsed.family) continue;
      const bits = BigInt((r.family === 4 ? 32 : 128) - r.prefix);
      if ((parsed.value >> bits) << bits !== r.base) continue;
      if (!best || r.prefix > best.prefix || (r.prefix === best.prefix && r.action === 'deny')) best = r;
    }
    if (!best) return { allowed: true, rule: null };
    return { allowed: best.action === 'allow', rule: `${best.action} ${best.text}` };
  }

  /** A `lookup` for net/tls sockets: resolves, and fails the connection when any address of the answer is refused. */
  readonly lookup: LookupFunction = (
    hostname: string,
    options: LookupOneOptions | LookupAllOptions,
    callback: (...args: never[]) => void,
  ) => {
    const done = callback as unknown as (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void;
    this.resolver(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        done(error, '');
        return;
      }
      // Every address of the answer must pass: a client may try any of them (happy eyeballs).
      for (const a of addresses) {
        const decision = this.decide(a.address);
        if (!decision.allowed) {
          done(new OutboundAddressRefusedError(a.address, decision.rule ?? ''), '');
          return;
        }
      }
      if (addresses.length === 0) {
        done(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        return;
      }
      if ((options as LookupAllOptions).all) done(null, addresses);
      else done(null, addresses[0]!.address, addresses[0]!.family);
    });
  };

  /** Options for net.connect/tls.connect that enforce the policy; throws {@link OutboundAddressRefusedError} for a refused IP literal (the lookup is skipped for those). */
  connectOptions<O extends { host?: string | null; lookup?: LookupFunction }>(options: O): O {
    const host = (options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    if (isIP(host.split('%')[0]!)) {
      const decision = this.decide(host);
      if (!decision.allowed) throw new OutboundAddressRefusedError(host, decision.rule ?? '');
      return options;
    }
    return { ...options, lookup: this.lookup };
  }

  /** An http.Agent whose every connection is checked by the policy. */
  httpAgent(options: HttpAgentOptions = {}): HttpAgent {
    const policy = this;
    return new (class extends HttpAgent {
      override createConnection(
        opts: NetConnectOpts,
        callback?: (error: Error | null, socket: Duplex) => void,
      ): Duplex | null | undefined {
        return guarded(policy, opts, callback, (o, cb) => super.createConnection(o, cb));
      }
    })(options);
  }

  /** An https.Agent whose every connection is checked by the policy. */
  httpsAgent(options: HttpsAgentOptions = {}): HttpsAgent {
    const policy = this;
    return new (class extends HttpsAgent {
      override createConnection(
        opts: NetConnectOpts,
        callback?: (error: Error | null, socket: Duplex) => void,
      ): Duplex | null | undefined {
        return guarded(policy, opts, callback, (o, cb) => super.createConnection(o, cb));
      }
    })(options);
  }
}

type CreateConnection = (
  opts: NetConnectOpts,
  callback?: (error: Error | null, socket: Duplex) => void,
) => Duplex | null | undefined;

/** Runs an agent's createConnection with the policy's options, or fails the request when the address is an IP literal the policy refuses. */
function guarded(
  policy: OutboundPolicy,
  opts: NetConnectOpts,
  callback: ((error: Error | null, socket: Duplex) => void) | undefined,
  create: CreateConnection,
): Duplex | null | undefined {
  let checked: NetConnectOpts;
  try {
    checked = policy.connectOptions(opts as { host?: string | null }) as NetConnectOpts;
  } catch (error) {
    // A socket that never connects and fails on the next tick: the agent hands it to the
    // request, whose 'error' handler sees the refusal like any connection error.
    const socket = new Socket();
    process.nextTick(() => socket.destroy(error as Error));
    return socket;
  }
  return create(checked, callback);
}
