// The host counters an agent samples (/proc/net/snmp, /proc/net/dev) and their deltas, without the
// rest of src/alerts: index.ts also carries the rule evaluator and its store, and with them the
// database drivers (pg, PGlite) and the storage SDKs, which an agent importing it loaded at start
// and held idle (bench/agent-idle). Everything here is also exported by index.ts.
export { hostMetricDeltas, readHostCounters } from './proc-net.js';
export type { HostCounterSnapshot } from './proc-net.js';
