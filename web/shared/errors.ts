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
  | 'UNSUPPORTED_FORMAT';

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
  if (e instanceof RangeError) return new ParseError('TRUNCATED', `${context}: the file ends early (truncated or corrupt).`);
  const msg = e instanceof Error ? e.message : String(e);
  return new ParseError(fallback, `${context}: ${msg}`);
}
