// Is a spread of connections over a Service's endpoints plausible for the
// probabilities iptables uses? Each of n connections picks one of k endpoints
// with probability 1/k, so each endpoint's count is Binomial(n, 1/k). A count
// outside mean ± Z standard deviations happens by chance with probability
// below 1e-6 per endpoint (normal approximation), so a failure means a real skew.
// (At Z = 4, 6e-5: the dozens of Service checks of one run of the tests failed
// by chance about once in 300 runs. At a Service check's 60 connections, a
// cascade's rule sending 9 of 10 to one of two backends is still caught nearly
// always; fewer connections, as a tcp check's 21, catch only a backend unanswered.)
export const SPREAD_Z = 5;

export interface SpreadBound {
  mean: number;
  low: number;
  high: number;
}

export function spreadBound(connections: number, endpoints: number, z = SPREAD_Z): SpreadBound {
  const p = 1 / endpoints;
  const mean = connections * p;
  const sd = Math.sqrt(connections * p * (1 - p));
  return { mean, low: Math.max(0, mean - z * sd), high: Math.min(connections, mean + z * sd) };
}

export function isPlausibleSpread(counts: number[], z = SPREAD_Z): boolean {
  const n = counts.reduce((a, b) => a + b, 0);
  const { low, high } = spreadBound(n, counts.length, z);
  return counts.every((c) => c >= low && c <= high);
}

/**
 * How rarely a healthy Service check may fail because chance left a backend unanswered: once in a
 * million (at 1e-4, the twenty-odd checks at 15 connections of one run of the tests failed by chance
 * about once in 500 runs; six connections more per check made it 1e-6).
 */
export const MISS_CHANCE = 1e-6;

/**
 * The fewest connections that leave none of `endpoints` unanswered by chance
 * but once in 1/MISS_CHANCE checks (a check needs every backend to answer). A
 * given endpoint is missed by all n connections with probability (1 - 1/k)^n,
 * so one of the k is missed with probability at most k (1 - 1/k)^n: 21 for 2
 * backends, 153 for 10, 1142 for 64.
 */
export function fewestConnections(endpoints: number): number {
  if (endpoints <= 1) return 1;
  return Math.ceil(Math.log(endpoints / MISS_CHANCE) / -Math.log(1 - 1 / endpoints));
}

/** A Service check's connections when the lab gives none, if its backends need no more (fewestConnections). */
export const DEFAULT_SERVICE_CONNECTIONS = 60;

/** A Service check's connections when the lab gives none: enough for every backend to answer. */
export function defaultServiceConnections(backends: number): number {
  return Math.max(DEFAULT_SERVICE_CONNECTIONS, fewestConnections(backends));
}

/** The defaults above in words, for the schema's description and verify's help. */
export function connectionsDefaults(): string {
  let more = 2;
  while (fewestConnections(more) <= DEFAULT_SERVICE_CONNECTIONS) more++;
  return `${DEFAULT_SERVICE_CONNECTIONS}, or more for a Service of ${more} or more backends: as many as every backend needs to answer (${fewestConnections(10)} for 10)`;
}
