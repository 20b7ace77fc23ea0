// Typed errors for everything that reads user files. The UI matches on `code`, never on message text,
// and every message says what was wrong and what would work instead.

export type ParseErrorCode =
  | 'TRUNCATED'
  | 'BAD_MAGIC'
  | 'BAD_HEADER'
  | 'UNSUPPORTED_VERSION'
  | 'UNSUPPORTED_DTYPE'
  | 'BAD_SHAPE'
  | 'BAD_ZIP'
  | 'NO_NUMERIC_ARRAY'
  | 'MAT_V73'
  | 'MAT_V4'
  | 'UNSUPPORTED_FORMAT'
  | 'TOO_LARGE'
  | 'EMPTY'
  | 'BAD_CRC';

/** Why a member of a container could not be used (the container's other members may still be). */
export interface Skipped {
  name: string;
  reason: string;
  code?: ParseErrorCode;
}

export class ParseError extends Error {
  readonly code: ParseErrorCode;
  constructor(code: ParseErrorCode, message: string) {
    super(message);
    this.name = 'ParseError';
    this.code = code;
  }
}

/** Turns anything thrown while parsing into a ParseError, keeping typed ones as they are. */
export function asParseError(e: unknown, fallback: ParseErrorCode, context: string): ParseError {
  if (e instanceof ParseError) return e;
  if (e instanceof RangeError) {
    // Either a read past the end of the bytes or an allocation the engine refused: say which.
    if (/array length|allocation|memory/i.test(e.message))
      return new ParseError('TOO_LARGE', `${context}: the data is too large for this browser tab (${e.message}).`);
    return new ParseError('TRUNCATED', `${context}: the file ends early (truncated or corrupt).`);
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new ParseError(fallback, `${context}: ${msg}`);
}
