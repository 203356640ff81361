// `netlab exec POD[/CONTAINER] -- CMD...`: run a command inside a pod, on its node;
// `netlab exec NODE -- CMD...`: run it on the node itself.
import { terminalScript } from '../shell/prelude.js';
import { findLabWith, requireNodeAccess } from './common.js';
import { routerTransport, transportOf } from '../exec/transports.js';
import { UsageError } from '../errors.js';

/** The program is the user's, in their terminal: its Ctrl-C is its own (terminalScript). */
export async function execCommand(target: string, argv: string[], options: { lab?: string }): Promise<number> {
  if (argv.length === 0)
    throw new UsageError('nothing to run: netlab exec POD -- CMD [ARGS...], e.g. netlab exec a0 -- ip addr');
  const [podName, container] = target.split('/');
  const state = await findLabWith(podName!, options);
  requireNodeAccess('exec', state.target);
  if (
    container === undefined &&
    !state.model.pods.some((p) => p.name === podName) &&
    state.model.nodes.some((n) => n.name === podName)
  ) {
    // A node name: run the command on the node itself (bridge fdb, ip route, iptables...).
    return transportOf(state, podName!).interactive(...terminalScript(argv));
  }
  // A router of a routed underlay (simulated: netlab made it): ip route, traceroute, tcpdump there.
  const router = container === undefined ? routerTransport(state, podName!) : undefined;
  if (router) return router.interactive(...terminalScript(argv));
  const pod = state.model.pods.find((p) => p.name === podName);
  if (!pod)
    throw new UsageError(
      `lab ${state.lab} has no pod "${podName}"; pods: ${state.model.pods.map((p) => p.name).join(', ')}`,
    );
  if (container !== undefined && !pod.containers.some((c) => c.name === container)) {
    throw new UsageError(
      `pod ${pod.name} has no container "${container}"; containers: ${pod.containers.map((c) => c.name).join(', ') || 'none'}`,
    );
  }
  const transport = transportOf(state, pod.node);
  return transport.interactive(...terminalScript(argv, { lab: state.lab, pod: { name: pod.name, container } }));
}
