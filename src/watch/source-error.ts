export type SpecSourceErrorKind =
  'invalid' | 'fetch-failed' | 'ref-missing' | 'checkout-failed' | 'outside-clone';

/** The spec's source could not give a spec; the message is a sentence without credentials. */
export class SpecSourceError extends Error {
  override readonly name = 'SpecSourceError';
  readonly kind: SpecSourceErrorKind;

  constructor(kind: SpecSourceErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}
