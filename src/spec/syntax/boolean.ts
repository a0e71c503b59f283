/** compose-go's toBoolean: the YAML 1.1 words for true and false. */
export function castBoolean(text: string): boolean | undefined {
  const word = text.toLowerCase();
  if (['y', 'yes', 'true', 'on'].includes(word)) return true;
  if (['n', 'no', 'false', 'off'].includes(word)) return false;
  return undefined;
}
