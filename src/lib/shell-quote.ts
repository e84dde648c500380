/**
 * One word for a POSIX shell: left bare when it holds only characters no shell treats specially,
 * otherwise in single quotes (inside which nothing is special; a quote is closed, escaped and
 * reopened). Commands the server prints for an operator to paste — install commands — quote
 * every word, because a URL or name could carry `;`, `$(…)` or a newline.
 * @example shellQuote("a b") // "'a b'"; shellQuote("it's") // "'it'\\''s'"
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted for a POSIX shell (see shellQuote). */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}
