// Public surface of src/filter: Azure packet-capture filters → one libpcap (BPF) expression.
export type { PacketCaptureFilter, PacketCaptureFilterInput, FilterProtocol } from './types.js';
export { InvalidFilterError, FilterTooLargeError, BPF_MAX_INSTRUCTIONS } from './errors.js';
export { normalizeFilters } from './normalize.js';
export { compileFilters } from './compile.js';
export { BPF_CACHE_ENTRIES, bpfCheckStats, checkBpfExpression, TCPDUMP_FILTER_OPTIONS } from './check-bpf.js';
export type { CheckBpfOptions, BpfCheckResult } from './check-bpf.js';
