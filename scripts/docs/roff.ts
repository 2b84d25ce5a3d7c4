// The few man(7) macros the pages use, with text escaped so that no line of it can read as a request.

/** Escapes plain text for roff: backslashes, hyphens (as minus signs, so flags copy right), leading dots. */
export function text(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

export const header = (name: string, section: number, version: string, title: string): string =>
  `.TH ${name.toUpperCase()} ${section} "" "holdfast ${version}" "${title}"`;
export const section = (name: string): string => `.SH ${name}`;
export const subsection = (name: string): string => `.SS ${text(name)}`;
export const paragraph = (s: string): string => `.PP\n${text(s)}`;
/** A tagged paragraph: the term in bold on its own line, the text indented below. */
export const tagged = (term: string, s: string): string => `.TP\n.B ${text(term)}\n${text(s)}`;
