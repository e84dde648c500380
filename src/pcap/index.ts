// Public surface of src/pcap: classic libpcap read/write and packet decoding.
export * from './format.js';
export * from './stream-parser.js';
export * from './read.js';
export * from './decode.js';
export * from './ip-text.js';
export * from './build.js';
