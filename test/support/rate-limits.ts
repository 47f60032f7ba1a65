/**
 * Rate limits count in fixed one-minute windows. A test that spends one window's budget and then
 * expects a refusal waits, when the current minute is nearly over, for the next one: a new window
 * halfway through would reset the count.
 */
export async function roomInRateLimitWindow(neededMs = 20_000): Promise<void> {
  const leftMs = 60_000 - (Date.now() % 60_000);
  if (leftMs < neededMs) await new Promise((resolve) => setTimeout(resolve, leftMs + 100));
}
