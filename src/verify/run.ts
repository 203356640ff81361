// Running connectivity checks: start a TCP responder in every pod a check
// connects to, run the checks from each client's node (nodes in parallel),
// then stop the responders. Three scripts per node, whatever the number of checks.
import { endpointLabel, type Check, type Model } from '../lab/model.js';
import { scriptPrelude } from '../shell/prelude.js';
import { quoteArgv } from '../shell/quote.js';
import type { Transports } from '../exec/runner.js';
import { RunError } from '../errors.js';

export interface CheckResult {
  check: Check;
  /** did the packet or connection get through (and, for tcp to a pod, did that pod answer) */
  reached: boolean;
  ok: boolean;
  evidence: string;
}

interface Listener {
  pod: string;
  port: number;
  node: string;
}

function listenersFor(model: Model, checks: readonly Check[]): Listener[] {
  const seen = new Map<string, Listener>();
  for (const check of checks) {
    if (check.kind !== 'tcp' || !('pod' in check.to)) continue;
    const pod = model.pods.find((p) => p.name === (check.to as { pod: string }).pod)!;
    seen.set(`${pod.name}:${check.port}`, { pod: pod.name, port: check.port!, node: pod.node });
  }
  return [...seen.values()];
}

function byNode<T>(items: readonly T[], nodeOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(nodeOf(item), [...(groups.get(nodeOf(item)) ?? []), item]);
  return groups;
}

export async function runChecks(model: Model, transports: Transports, checks: readonly Check[] = model.checks): Promise<CheckResult[]> {
  const nodeOfPod = (pod: string) => model.pods.find((p) => p.name === pod)!.node;
  const listeners = byNode(listenersFor(model, checks), (l) => l.node);
  const runOn = async (groups: Map<string, string[]>) =>
    Object.fromEntries(await Promise.all([...groups].map(async ([node, lines]) => [node, await transports[node]!.run(`${scriptPrelude(model.name)}\n${lines.join('\n')}\n`)] as const)));

  try {
    const started = await runOn(new Map([...listeners].map(([node, ls]) => [node, ls.map((l) => `${quoteArgv(['netlab_listen', l.pod, String(l.port)])} || exit 1`)])));
    for (const [node, result] of Object.entries(started)) {
      if (result.exitCode !== 0) throw new RunError(`${node}: cannot start the TCP responders for verify: ${result.stderr.trim()}`);
    }
    const indexed = checks.map((check, index) => ({ check, index }));
    const groups = byNode(indexed, ({ check }) => nodeOfPod(check.from.pod));
    const outputs = await runOn(
      new Map(
        [...groups].map(([node, items]) => [
          node,
          items.map(({ check, index }) => quoteArgv(['netlab_check', String(index), check.kind, check.from.pod, check.toAddress, ...(check.port ? [String(check.port)] : [])])),
        ]),
      ),
    );
    const parsed = new Map<number, { rc: number; out: string[] }>();
    for (const result of Object.values(outputs)) {
      for (const line of result.stdout.split('\n')) {
        const rc = /^@@netlab check (\d+) (\d+)$/.exec(line);
        if (rc) parsed.set(Number(rc[1]), { rc: Number(rc[2]), out: [] });
        const out = /^@@netlab out (\d+) ?(.*)$/.exec(line);
        if (out) parsed.get(Number(out[1]))?.out.push(out[2]!);
      }
    }
    return indexed.map(({ check, index }) => judge(check, parsed.get(index), outputs[nodeOfPod(check.from.pod)]?.stderr ?? ''));
  } finally {
    await runOn(new Map([...listeners].map(([node, ls]) => [node, ls.map((l) => quoteArgv(['netlab_unlisten', l.pod, String(l.port)]))])));
  }
}

function judge(check: Check, result: { rc: number; out: string[] } | undefined, stderr: string): CheckResult {
  if (!result) {
    const evidence = `the check did not run: ${stderr.trim() || 'no output'}`;
    return { check, reached: false, ok: false, evidence };
  }
  const text = result.out.filter((l) => l.trim() !== '');
  let reached = result.rc === 0;
  let evidence: string;
  if (check.kind === 'ping') {
    const rtt = text.find((l) => l.includes('time='));
    evidence = reached && rtt ? `reply ${/time=\S+ ms/.exec(rtt)?.[0] ?? rtt}` : text.find((l) => /loss|unreachable|Network/.test(l)) ?? text.join(' ') ?? 'no reply';
    if (!reached && !evidence) evidence = 'no reply';
  } else {
    const answer = text.join(' ').trim();
    const expected = 'pod' in check.to ? check.to.pod : undefined;
    if (reached && expected !== undefined && answer !== expected) reached = false;
    evidence = reached ? `answered by ${answer}` : answer ? (result.rc === 0 ? `answered by ${answer}, expected ${expected}` : answer.replace(/^\S+ \S+ socat\[\d+\] E /, '')) : 'no answer';
  }
  return { check, reached, ok: reached === (check.expect === 'pass'), evidence };
}

export function describeCheck(check: Check): string {
  const to = endpointLabel(check.to);
  const target = check.kind === 'tcp' ? `${to}:${check.port}` : to;
  const address = 'address' in check.to ? '' : ` (${check.toAddress})`;
  return `${check.kind} ${endpointLabel(check.from)} → ${target}${address}`;
}
