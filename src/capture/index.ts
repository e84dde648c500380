// Public surface of src/capture: the tcpdump capture engine.
export * from './types.js';
export * from './tcpdump-args.js';
export * from './tcpdump-launch.js';
export * from './tcpdump-stderr.js';
export * from './file-writer.js';
export * from './session.js';
export * from './capture-program.js';
export * from './recover.js';
export * from './pcap-cut.js';
export * from './ring.js';
export * from './find-executable.js';
export * from './lookback.js';
export * from './lookback-merge.js';
export * from './idle-cut.js';
export * from './thread-priority.js';
