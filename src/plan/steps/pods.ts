// Pods: a network namespace, a pause process holding the pod's other
// namespaces, loopback up, and the pod's containers (article 001, section 2).
import { labIdOf } from '../../model/lab.js';
import type { Model, ModelPod } from '../../model/lab.js';
import type { StepDraft } from '../../model/plan.js';
import { step } from '../../model/effects.js';
import { podMountByHand } from '../../model/by-hand.js';
import { nodeStateDir } from '../../node/paths.js';

export function podSteps(model: Model, pod: ModelPod): StepDraft[] {
  const steps: StepDraft[] = [
    step(
      `create pod ${pod.name}'s network namespace`,
      `A pod is one network namespace shared by all its containers; the runtime creates it for the pause container. Named, so that \`ip netns exec ${pod.netns} …\` and \`ip -n ${pod.netns} …\` reach it.`,
      [{ kind: 'netns', name: pod.netns }],
    ),
    step(
      `turn IPv6 off in pod ${pod.name}`,
      "The articles' pods speak IPv4 only. With IPv6 on, every interface that comes up sends IPv6 duplicate-address probes, router solicitations and multicast listener reports, which a bridge floods to every port and VXLAN to every node: with hundreds of pods the copies overflow the kernel's per-CPU input queue (net.core.netdev_max_backlog) and the checks' ARP requests are dropped with them. Set as the namespace's default before its interface arrives: a device takes the settings of the namespace it lands in.",
      [{ kind: 'ipv4-only', netns: pod.netns }],
    ),
    step(
      `start pod ${pod.name}'s pause process`,
      `Like the article's pause container (\`unshare -Cunimpf\`; here the network namespace is made first, and there is no cgroup namespace${pod.rootfs ? '' : ' or mount namespace'}), it holds the pod's UTS, IPC and PID namespaces${pod.rootfs ? ", and a mount namespace for the containers' overlays," : ''} for the containers to join; hostname = pod name; as the pod's PID 1 it waits for the processes left to it, so none stays a zombie. Undo kills every process in the pod.`,
      [{ kind: 'pause', netns: pod.netns, mount: Boolean(pod.rootfs) }],
    ),
    step(
      `bring up loopback in pod ${pod.name}`,
      'A new network namespace has lo, and it is DOWN (and a fallback device such as tunl0 for each tunnel module the kernel has loaded): containers of a pod talk over 127.0.0.1 only after this (containerd does the same in bringUpLoopback).',
      [{ kind: 'up', link: 'lo', netns: pod.netns }],
    ),
  ];
  for (const container of pod.containers) steps.push(...containerSteps(model, pod, container.name));
  return steps;
}

const MKDIR = 'mkdir -p makes the directories for the container layers (under /run/netlab/LAB on the node).';

function containerSteps(model: Model, pod: ModelPod, container: string): StepDraft[] {
  if (!pod.rootfs) {
    return [
      step(
        `start container ${container} in pod ${pod.name}`,
        `A container is a process that joins the pause process's namespaces (\`nsenter -t PAUSE_PID -n -u -i -p\`): it sees the pod's interfaces, hostname and processes, and the node's filesystem (no rootfs given).`,
        [{ kind: 'container', netns: pod.netns, name: container }],
      ),
    ];
  }
  const dir = `${nodeStateDir(labIdOf(model))}/rootfs/${pod.name}`;
  const lower = pod.rootfs.endsWith('.tar.gz') || pod.rootfs.endsWith('.tgz') ? `${dir}/lower` : pod.rootfs;
  const layer = `${dir}/${container}`;
  const overlay = [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${layer}/upper,workdir=${layer}/work`,
    `${layer}/merged`,
  ];
  const steps: StepDraft[] = [];
  if (lower !== pod.rootfs && pod.containers[0]?.name === container) {
    steps.push(
      step(
        `unpack ${pod.rootfs} for pod ${pod.name}`,
        'The tarball becomes the read-only lower layer that every container of the pod shares.',
        [
          {
            kind: 'helper',
            apply: [
              { command: ['mkdir', '-p', lower], explain: MKDIR },
              {
                command: ['tar', '-xzf', pod.rootfs, '-C', lower],
                explain: 'tar unpacks the root filesystem once, as the shared read-only lower layer.',
              },
            ],
            undo: [['rm', '-rf', lower]],
          },
        ],
      ),
    );
  }
  steps.push(
    step(
      `make container ${container}'s overlay filesystem`,
      "Each container writes to its own upper layer over the shared lower layer (overlayfs), as in the article: changes of one container are invisible to the others. Mounted in the pod's mount namespace, it disappears with the pod.",
      [
        {
          kind: 'helper',
          netns: pod.netns,
          apply: [
            { command: ['mkdir', '-p', `${layer}/upper`, `${layer}/work`, `${layer}/merged`], explain: MKDIR },
            {
              command: ['netlab_pod_mount', pod.netns, ...overlay],
              byHand: podMountByHand(pod.netns, overlay),
              explain: `netlab_pod_mount runs \`nsenter -t PAUSE_PID -m mount …\`: the overlay is mounted inside pod ${pod.netns}'s own mount namespace (lowerdir read-only and shared, upperdir per container, workdir for overlayfs' bookkeeping).`,
            },
          ],
          undo: [['rm', '-rf', layer]],
        },
      ],
    ),
    step(
      `start container ${container} in pod ${pod.name}`,
      `The container joins the pause process's namespaces and runs chrooted in its overlay (\`nsenter -t PAUSE_PID -n -u -i -p -m chroot ${layer}/merged\`).`,
      [{ kind: 'container', netns: pod.netns, name: container, root: `${layer}/merged` }],
    ),
  );
  return steps;
}
