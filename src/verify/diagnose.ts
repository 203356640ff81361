// When a check fails: compare each node's live state with what the plan made
// there (sysctls, links, routes, the FORWARD jump) and say which node lacks
// what, naming the step that made it. Driven by the plan's commands alone, so
// every lab gets it without special cases.
import type { Model } from '../lab/model.js';
import type { Command, NodeFacts, Step } from '../plan/types.js';
import { buildPlan } from '../plan/build.js';
import { quoteArgv } from '../shell/quote.js';
import type { Transports } from '../exec/transports.js';
import { scriptPrelude } from '../shell/prelude.js';

interface Expectation {
  step: Step;
  /** shell that prints one line when the expectation does not hold */
  probe: string;
}

function expectationsOf(step: Step, command: Command): Expectation[] {
  const [tool, a, b, c, d] = command;
  const say = (text: string) => `echo ${quoteArgv([`@@netlab finding ${step.id} ${text}`])}`;
  if (tool === 'netlab_sysctl') {
    const [, key, value] = command as [string, string, string];
    return [
      {
        step,
        probe: `v=$(sysctl -n ${quoteArgv([key])} 2>/dev/null); [ "$v" = ${quoteArgv([value])} ] || echo "@@netlab finding ${step.id} ${key} is $v, but the lab sets it to ${value}"`,
      },
    ];
  }
  if (tool === 'ip' && a === 'link' && b === 'add') {
    const name = c === 'name' ? d! : c!;
    return [
      {
        step,
        probe: `ip -o link show ${quoteArgv([name])} 2>/dev/null | grep -q ',UP' || { ip -o link show ${quoteArgv([name])} >/dev/null 2>&1 && ${say(`link ${name} is down`)} || ${say(`link ${name} is missing`)}; }`,
      },
    ];
  }
  if (tool === 'ip' && a === 'netns' && b === 'add') {
    return [
      { step, probe: `[ -e /run/netns/${quoteArgv([c!])} ] || ${say(`the network namespace of pod ${c} is missing`)}` },
    ];
  }
  if (tool === 'netlab_pause') {
    return [
      {
        step,
        probe: `netlab_pause_pid ${quoteArgv([a!])} >/dev/null 2>&1 || ${say(`the pause process of pod ${a} is gone`)}`,
      },
    ];
  }
  if (tool === 'bridge' && a === 'link' && b === 'set' && command.includes('hairpin')) {
    // `bridge link set dev PORT hairpin on`: the port's flag, as `bridge -d link` prints it.
    const port = command[command.indexOf('dev') + 1]!;
    const wanted = command[command.indexOf('hairpin') + 1]!;
    return [
      {
        step,
        probe: `bridge -d link show dev ${quoteArgv([port])} 2>/dev/null | grep -q ${quoteArgv([`hairpin ${wanted}`])} || ${say(`hairpin is ${wanted === 'on' ? 'off' : 'on'} on ${port}`)}`,
      },
    ];
  }
  if (tool === 'ip' && a === 'neigh' && b === 'add') {
    // `ip neigh add ADDRESS lladdr MAC dev DEV nud permanent`
    const [address, mac, dev] = [c!, command[command.indexOf('lladdr') + 1]!, command[command.indexOf('dev') + 1]!];
    return [
      {
        step,
        probe: `ip neigh show ${quoteArgv([address])} dev ${quoteArgv([dev])} 2>/dev/null | grep -qi ${quoteArgv([`lladdr ${mac} `])} || ${say(`the neighbour entry ${address} → ${mac} on ${dev} is missing or changed`)}`,
      },
    ];
  }
  if (tool === 'bridge' && a === 'fdb' && (b === 'append' || b === 'add')) {
    // `bridge fdb append MAC dev DEV dst ADDRESS`
    const [mac, dev, dst] = [c!, command[command.indexOf('dev') + 1]!, command[command.indexOf('dst') + 1]!];
    return [
      {
        step,
        probe: `bridge fdb show dev ${quoteArgv([dev])} 2>/dev/null | grep -qi ${quoteArgv([`^${mac} dst ${dst} `])} || ${say(`the FDB entry ${mac} → ${dst} on ${dev} is missing or changed`)}`,
      },
    ];
  }
  if (tool === 'ip' && a === 'tunnel' && b === 'add') {
    return [{ step, probe: `ip -o link show ${quoteArgv([c!])} >/dev/null 2>&1 || ${say(`tunnel ${c} is missing`)}` }];
  }
  if (tool === 'ip' && a === 'route' && b === 'add') {
    return [
      {
        step,
        probe: `[ -n "$(ip route show exact ${quoteArgv([c!])} 2>/dev/null)" ] || ${say(`route ${c} is missing`)}`,
      },
    ];
  }
  if (tool === 'iptables' && command.includes('-I')) {
    // `iptables -I CHAIN [POS] RULE` was applied: `iptables -C CHAIN RULE` checks it is still there.
    const i = command.indexOf('-I');
    const rest = command.slice(i + 2);
    const check = [
      ...command.slice(0, i),
      '-C',
      command[i + 1]!,
      ...(/^\d+$/.test(rest[0] ?? '') ? rest.slice(1) : rest),
    ];
    return [
      {
        step,
        probe: `${quoteArgv(check)} 2>/dev/null || ${say(`the jump from ${command[i + 1]} to the lab chain is missing`)}`,
      },
    ];
  }
  return [];
}

export interface Finding {
  node: string;
  step: number;
  what: string;
  /** the step's summary: what it was for */
  summary: string;
}

export async function diagnose(
  model: Model,
  facts: Record<string, NodeFacts>,
  transports: Transports,
): Promise<Finding[]> {
  const plan = buildPlan(model, facts);
  const perNode = await Promise.all(
    plan.nodes.map(async (nodePlan) => {
      // Links moved into a pod (`ip link set X netns POD`) are not the node's to check.
      const moved = new Set(
        nodePlan.steps.flatMap((s) =>
          s.apply
            .filter((c) => c[0] === 'ip' && c[1] === 'link' && c[2] === 'set' && c[4] === 'netns')
            .map((c) => c[3]!),
        ),
      );
      const probes = nodePlan.steps.flatMap((step) =>
        step.apply
          .filter(
            (command) =>
              !(
                command[1] === 'link' &&
                command[2] === 'add' &&
                moved.has(command[3] === 'name' ? command[4]! : command[3]!)
              ),
          )
          .flatMap((command) => expectationsOf(step, command)),
      );
      if (probes.length === 0) return [];
      const result = await transports[nodePlan.node]!.run(
        `${[scriptPrelude(model.name), ...probes.map((p) => p.probe)].join('\n')}\n`,
      );
      return result.stdout
        .split('\n')
        .map((line) => /^@@netlab finding (\d+) (.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => {
          const step = nodePlan.steps.find((s) => s.id === Number(m[1]))!;
          return { node: nodePlan.node, step: step.id, what: m[2]!, summary: step.summary };
        });
    }),
  );
  return perNode.flat();
}

export function describeFindings(findings: Finding[]): string[] {
  if (findings.length === 0)
    return [
      'diagnosis: every node still has what the plan made (sysctls, links, routes, hairpin, static neighbour and FDB entries, FORWARD jump); look at the pods and the path (netlab exec)',
    ];
  return ['diagnosis:', ...findings.map((f) => `  ${f.node}: ${f.what} (step ${f.step}: ${f.summary})`)];
}
