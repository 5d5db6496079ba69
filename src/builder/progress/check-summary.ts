/**
 * The list of build-check warnings that ends a build's output, as buildx prints it
 * (`printWarnings`): a blank line, ` N warnings found (use docker --debug to expand):`, then
 * ` - Rule: message (line N)` per warning. Nothing when there are none.
 */
export function checkSummary(shorts: readonly string[]): string {
  if (shorts.length === 0) return '';
  const head = shorts.length === 1 ? '1 warning found' : `${shorts.length} warnings found`;
  return `\n ${head} (use docker --debug to expand):\n` + shorts.map((s) => ` - ${s}\n`).join('');
}
