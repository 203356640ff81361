// `netlab status [LAB]`: the labs that are up (or the one named), their nodes and pods, and any drift of
// the live kernel state from what netlab made. It reads state files and asks the
// nodes; it never loads the lab parser (yaml, zod), so it starts quickly.
import { holderRunning } from '../exec/simulated.js';
import { describeRun, readStates, type LabState } from '../state/store.js';
import { cachedRedirectCaveat, describeFindings, diagnose, type Finding } from '../verify/diagnose.js';
import { escapeControls } from '../errors.js';
import { transportsOf } from '../exec/transports.js';
import { checkReachable } from '../exec/ssh.js';
import type { Transports } from '../exec/transports.js';
import { printJson, type JsonOption } from '../json-output.js';
import type { TargetOptions } from '../exec/targets.js';
import { findUpLab, labIdFor, labNameOf, nodeRunning, otherHolders, otherTarget } from './common.js';
import { challengeOfRun } from '../state/challenges.js';
import { builtInUserNamespace, mayEnterNodes, otherMachine } from '../exec/userns.js';

/**
 * Drift: what the plan made on each node, compared with the live kernel state
 * (links, routes, sysctls, pod namespaces and pause processes, the FORWARD jump).
 * Unreachable nodes are reported as such.
 */
async function driftOf(state: LabState): Promise<{ findings: Finding[]; unreachable: string[]; checked: boolean }> {
  if (state.target.kind === 'simulated' && (!mayEnterNodes(state.target) || otherMachine(state.target)))
    return { findings: [], unreachable: [], checked: false };
  const transports = transportsOf(state);
  const unreachable: string[] = [];
  const reachable: Transports = {};
  for (const node of state.model.nodes) {
    if (nodeRunning(state, node.name) === false) unreachable.push(`${node.name}: the simulated node is not running`);
    else reachable[node.name] = transports[node.name]!;
  }
  // The lab's other holders, as `up` counts them (stoppedNodes): it builds a lab without one of them again.
  if (state.target.kind === 'simulated')
    for (const { name, what, holder } of otherHolders(state.target))
      if (!holderRunning(holder)) unreachable.push(`${name}: ${what} is not running`);
  if (state.target.kind === 'ssh') {
    try {
      await checkReachable({
        ...state.target,
        hosts: Object.fromEntries(Object.entries(state.target.hosts).filter(([n]) => reachable[n])),
      });
    } catch (error) {
      return { findings: [], unreachable: [(error as Error).message], checked: true };
    }
  }
  const model = { ...state.model, nodes: state.model.nodes.filter((n) => reachable[n.name]) };
  const { findings, unanswered } = await diagnose(model, state.facts, reachable);
  return { findings, unreachable: [...unreachable, ...unanswered], checked: true };
}

/**
 * The labs status shows: the one named (exit 2 when it is not up, or is up on
 * another target than the flags name), else every lab that is up (on the
 * target the flags name, if any), with the state files that cannot be read.
 */
async function labsShown(arg: string | undefined, target: TargetOptions) {
  const { states, corrupt } = readStates();
  if (arg === undefined)
    return {
      states: states.filter(
        (s) => !otherTarget(s, target) && (target.instance === undefined || s.model.instance === target.instance),
      ),
      corrupt,
    };
  const name = labIdFor(await labNameOf(arg), target.instance);
  const unreadable = corrupt.filter((c) => c.lab === name);
  if (unreadable.length) return { states: [], corrupt: unreadable };
  return { states: [await findUpLab(name, target)], corrupt: [] };
}

export async function statusCommand(lab: string | undefined, options: JsonOption & TargetOptions): Promise<number> {
  const { states, corrupt } = await labsShown(lab, options);
  const rows = await Promise.all(
    states.map(async (s) => {
      // An attached lab its owner took down (or whose nodes do not answer) is said in its row: the other labs
      // are still shown.
      let gone: string | undefined;
      let challenge: string | undefined;
      try {
        challenge = (
          s.attached ? await (await import('../lifecycle/attach.js')).challengeInProgress(s) : challengeOfRun(s)
        )?.id;
      } catch (error) {
        if (!s.attached) throw error;
        gone = (error as Error).message;
      }
      const drift =
        s.status === 'creating' || gone !== undefined
          ? { findings: [], unreachable: [], checked: false }
          : await driftOf(s);
      // What drifted would give the challenge's fault away: said only as "hidden".
      if (challenge && drift.findings.length) drift.findings = [];
      return {
        lab: s.lab,
        status: s.status,
        file: s.file,
        since: s.createdAt,
        run: s.run ? describeRun(s.run) : undefined,
        target: s.target.kind,
        // built without root (exec/userns.ts)
        ...(s.target.kind === 'simulated' && builtInUserNamespace(s.target) ? { userNamespace: true } : {}),
        // on another machine that shares this state directory
        ...(s.target.kind === 'simulated' && otherMachine(s.target) ? { machine: otherMachine(s.target) } : {}),
        nodes: s.model.nodes.map((n) => ({
          name: n.name,
          underlay: s.facts[n.name]?.address,
          running: nodeRunning(s, n.name),
        })),
        pods: s.model.pods.map((p) => ({ name: p.name, node: p.node, address: p.address ?? '127.0.0.1' })),
        drift: drift.checked ? { findings: drift.findings, unreachable: drift.unreachable } : null,
        ...(challenge ? { challenge } : {}),
        ...(gone !== undefined ? { attached: { error: gone } } : {}),
      };
    }),
  );
  const unreadable = corrupt.map((c) => ({
    lab: c.lab,
    status: 'unreadable' as const,
    file: c.file,
    reason: c.reason,
  }));
  // Exit 1 when what netlab made has drifted (or a node could not be asked, or a simulated node of a lab that is
  // up does not run, which a user sees of root's lab without comparing it): a script can rely on it.
  const drifted = rows.some(
    (r) =>
      r.challenge ||
      r.attached ||
      (r.drift && (r.drift.findings.length > 0 || r.drift.unreachable.length > 0)) ||
      (r.status === 'up' && r.nodes.some((n) => n.running === false)),
  )
    ? 1
    : 0;
  if (options.json) {
    printJson({ labs: [...rows, ...unreadable] });
    return drifted;
  }
  for (const c of corrupt) console.log(`${c.lab}: state file ${c.file} is unreadable (${c.reason}); ${c.remedy}`);
  if (rows.length === 0) {
    if (unreadable.length === 0) console.log('no lab is up');
    return 0;
  }
  for (const row of rows) {
    console.log(
      `${row.lab}: ${row.status} since ${row.since} (${row.target} nodes${row.machine ? ` on ${row.machine}` : ''}${row.userNamespace ? ' in a user namespace' : ''}, from ${row.file}${row.run ? `, ${row.run}` : ''})`,
    );
    for (const node of row.nodes) {
      const onNode = row.pods.filter((p) => p.node === node.name);
      const pods =
        onNode.length > 8
          ? [
              `${onNode.length} pods: ${onNode[0]!.name} ${onNode[0]!.address} … ${onNode.at(-1)!.name} ${onNode.at(-1)!.address}`,
            ]
          : onNode.map((p) => `${p.name} ${p.address}`);
      // (not probed: a machine over SSH, or a simulated node on the machine that shares this state directory)
      const running =
        node.running === null
          ? row.machine
            ? `on ${row.machine}`
            : 'over ssh'
          : node.running
            ? 'running'
            : 'NOT RUNNING';
      console.log(`  ${node.name} ${node.underlay} ${running}: ${pods.join(', ') || 'no pods'}`);
    }
    if (row.attached)
      for (const line of row.attached.error.split('\n')) console.log(`  ${escapeControls(line.trim(), true)}`);
    else if (row.challenge) {
      console.log(
        `  challenge ${row.challenge} is active: what differs from the plan is not shown (it would give the fault away); \`netlab challenge check\` grades the fix`,
      );
      // A node that does not answer is no fault to hide.
      for (const u of row.drift?.unreachable ?? []) console.log(`  unreachable: ${escapeControls(u, true)}`);
    } else if (!row.drift && row.status === 'creating')
      console.log(
        `  (live state not compared while the lab is being created; if no \`netlab up\` is running, \`netlab down ${row.lab}\` removes what it left)`,
      );
    else if (!row.drift)
      console.log(
        row.machine
          ? `  (live state not compared: its simulated nodes run on ${row.machine}, another machine that shares this state directory: run netlab status there)`
          : '  (live state not compared: only root may enter the nodes of a lab root brought up; sudo netlab status)',
      );
    else if (row.drift.findings.length === 0 && row.drift.unreachable.length === 0)
      console.log('  live state matches what netlab made');
    else {
      console.log('  drift from what netlab made:');
      for (const u of row.drift.unreachable) console.log(`    unreachable: ${escapeControls(u, true)}`);
      for (const line of describeFindings(row.drift.findings).slice(1)) console.log(`  ${line}`);
      for (const line of cachedRedirectCaveat(row.drift.findings)) console.log(`  ${line}`);
    }
  }
  return drifted;
}
