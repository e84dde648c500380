// Public surface of src/pcap: classic libpcap read/write and packet decoding.
export * from './format.js';
export * from './stream-parser.js';
export * from './read.js';
export * from './decode.js';
export * from './ip-text.js';
export * from './build.js';
export * from './pcapng.js';
export * from './capture-reader.js';
export * from './dissect.js';
export * from './dns.js';
export * from './tls.js';
export * from './merge.js';
