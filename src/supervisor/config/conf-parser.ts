// Parser for libvirt's config file syntax (virtlockd.conf, libvirtd.conf: libvirt's virconf).
// Syntax only: it knows nothing about which keys exist or what they mean (see schema.ts).
//
// Grammar, as virconf reads it (checked against Debian's virtlockd 9.0 with `-f`):
//   file       := (statement separator)*
//   statement  := '#' comment-to-eol | name blanks '=' blanks value blanks ['#' comment-to-eol]
//   separator  := blanks (end-of-file | eol | ';') (blanks | eol)*
//   name       := [A-Za-z][A-Za-z0-9_]*
//   value      := number | string | list
//   number     := ['+'|'-'] digit+              (booleans are the numbers 0 and 1)
//   string     := '…' | "…" | """…"""           no escapes at all; only """…""" may span lines
//   list       := '[' (blanks|eol)* [value ((blanks|eol)* ',' (blanks|eol)* value)* [',']] (blanks|eol)* ']'
// blanks are space and tab; eol is \n or \r (only \n counts a line). A '#' inside a list is an error,
// as in virconf. Error messages and lines match virtlockd's for the same file, with deliberate differences:
// a file of only blank lines is accepted (virconf says "expecting a name"), a number beyond ±2^53 is an
// error (virconf silently wraps it), and an unterminated """ string is reported at its opening line.

import { ConfigError } from './config-error';

/** A parsed value: integers (JS numbers, exact), strings, and lists of values. */
export type ConfValue = number | string | ConfValue[];

/** One `key = value` statement. */
export interface ConfEntry {
  key: string;
  value: ConfValue;
  /** 1-based line on which the key starts. */
  line: number;
}

const isBlank = (c: string): boolean => c === ' ' || c === '\t';
const isEol = (c: string): boolean => c === '\n' || c === '\r';
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isNameChar = (c: string): boolean => isAlpha(c) || isDigit(c) || c === '_';

/** Cursor over the text; every error it raises carries the current line. */
class Scanner {
  pos = 0;
  line = 1;

  constructor(
    readonly text: string,
    readonly file: string,
  ) {}

  get atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  /** Current character, or '' at the end. (A method, not a getter, so TS does not narrow it between calls.) */
  cur(): string {
    return this.pos < this.text.length ? this.text[this.pos]! : '';
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  advance(n = 1): void {
    for (let i = 0; i < n && this.pos < this.text.length; i++) {
      if (this.text[this.pos] === '\n') this.line++;
      this.pos++;
    }
  }

  skipBlanks(): void {
    while (isBlank(this.cur())) this.pos++;
  }

  skipBlanksAndEols(): void {
    while (isBlank(this.cur()) || isEol(this.cur())) this.advance();
  }

  skipToEol(): void {
    while (!this.atEnd && !isEol(this.cur())) this.pos++;
  }

  fail(what: string, line = this.line): never {
    throw new ConfigError({ file: this.file, line, what });
  }
}

function parseNumber(s: Scanner): number {
  const start = s.pos;
  if (s.cur() === '-' || s.cur() === '+') s.advance();
  if (!isDigit(s.cur())) s.fail('unterminated number');
  while (isDigit(s.cur())) s.advance();
  // BigInt first: a JS number would silently round anything past 2^53.
  const big = BigInt(s.text.slice(start, s.pos));
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
    s.fail(`number ${s.text.slice(start, s.pos)} is out of range`);
  }
  const n = Number(big);
  return n === 0 ? 0 : n; // no -0
}

function parseString(s: Scanner): string {
  const openLine = s.line;
  if (s.startsWith('"""')) {
    s.advance(3);
    const start = s.pos;
    const end = s.text.indexOf('"""', start);
    if (end < 0) s.fail('unterminated string', openLine);
    s.advance(end - start); // counts the newlines inside
    s.advance(3);
    return s.text.slice(start, end);
  }
  const quote = s.cur();
  s.advance();
  const start = s.pos;
  while (!s.atEnd && s.cur() !== quote && !isEol(s.cur())) s.pos++;
  if (s.cur() !== quote) s.fail('unterminated string');
  const value = s.text.slice(start, s.pos);
  s.advance();
  return value;
}

function parseList(s: Scanner): ConfValue[] {
  s.advance(); // '['
  const items: ConfValue[] = [];
  s.skipBlanksAndEols();
  if (!s.atEnd && s.cur() !== ']') {
    items.push(parseValue(s));
    s.skipBlanksAndEols();
  }
  while (!s.atEnd && s.cur() !== ']') {
    if (s.cur() !== ',') s.fail('expecting a separator in list');
    s.advance();
    s.skipBlanksAndEols();
    if (s.cur() === ']') break; // trailing comma
    items.push(parseValue(s));
    s.skipBlanksAndEols();
  }
  if (s.cur() !== ']') s.fail('list is not closed with ]');
  s.advance();
  return items;
}

function parseValue(s: Scanner): ConfValue {
  s.skipBlanks();
  const c = s.cur();
  if (c === '"' || c === "'") return parseString(s);
  if (c === '[') return parseList(s);
  if (isDigit(c) || c === '-' || c === '+') return parseNumber(s);
  return s.fail('expecting a value');
}

/** Parses one statement; returns undefined for a comment or the end of the file. */
function parseStatement(s: Scanner): ConfEntry | undefined {
  s.skipBlanksAndEols();
  if (s.atEnd) return undefined;
  if (s.cur() === '#') {
    s.skipToEol();
    return undefined;
  }
  const line = s.line;
  if (!isAlpha(s.cur())) s.fail('expecting a name');
  const start = s.pos;
  while (isNameChar(s.cur())) s.pos++;
  const key = s.text.slice(start, s.pos);
  s.skipBlanks();
  if (s.cur() !== '=') s.fail('expecting an assignment');
  s.advance();
  s.skipBlanks();
  const value = parseValue(s);
  s.skipBlanks();
  if (s.cur() === '#') s.skipToEol();
  return { key, value, line };
}

function parseSeparator(s: Scanner): void {
  s.skipBlanks();
  if (s.atEnd) return;
  if (isEol(s.cur()) || s.cur() === ';') {
    s.advance();
    s.skipBlanksAndEols();
    return;
  }
  s.fail('expecting a separator');
}

/**
 * Parses the text of a libvirt-style config file.
 * @param text the whole file content
 * @param file the name used in error messages (as given, not resolved)
 * @returns every `key = value` statement in file order, duplicates included
 * @throws ConfigError "<file>:<line>: <what>" on the first syntax error
 */
export function parseConf(text: string, file: string): ConfEntry[] {
  const s = new Scanner(text, file);
  const entries: ConfEntry[] = [];
  while (!s.atEnd) {
    const entry = parseStatement(s);
    if (entry) entries.push(entry);
    parseSeparator(s);
  }
  return entries;
}
