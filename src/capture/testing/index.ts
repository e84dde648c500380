// Public surface of src/capture/testing: namespace lab and traffic generators for tests.
export * from './netns.js';
export * from './traffic.js';
export * from './verified-file.js';
