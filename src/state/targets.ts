// What state records about where a lab runs: enough for a later command (down,
// verify, exec) to reach the same nodes. The transports in exec/ read these
// records; state/ never needs exec/ to read or write them.
import type { ProcessRef } from '../os/processes.js';

/** A simulated node on this host: the processes that hold its namespaces. */
export interface Holder {
  /** the unshare process (host PID); killing it kills the node (--kill-child) */
  unshare: ProcessRef;
  /** PID 1 of the node, as the host sees it: nsenter's target */
  init: ProcessRef;
  /**
   * Its namespaces belong to the lab's own user namespace (netlab run without
   * root: exec/simulated.ts), which a command enters first to act in them.
   */
  userns?: true;
}

export interface SimulatedTargetState {
  kind: 'simulated';
  /**
   * Built without root, in a user namespace of its own: recorded from the
   * first write, before any holder starts, so that the user may take down
   * what an `up` killed early left.
   */
  userns?: true;
  /**
   * The machine the holders run on (its /etc/machine-id, and its name as said): a state directory may be shared
   * by machines (a home directory on NFS), and another machine's processes are not this one's to find or stop.
   * Older states, and a machine without an id, have none.
   */
  machine?: { id: string; name: string };
  underlay?: Holder;
  /** the lab's outside host (wiring/egress.ts), on the underlay */
  outside?: Holder;
  /** the routers of a routed underlay (underlay/routing.ts) */
  routers?: Record<string, Holder>;
  nodes: Record<string, Holder>;
}

export interface SshHost {
  /** what ssh connects to: a Host alias of the config file, or a host name/address */
  host: string;
  user?: string;
  port?: number;
  identity?: string;
}

export interface SshTargetState {
  kind: 'ssh';
  /** an OpenSSH config file (e.g. from `vagrant ssh-config`) */
  configFile?: string;
  /** the inventory file, or the Vagrant VMs' directory, the target was made from (absolute; older states have none) */
  from?: string;
  hosts: Record<string, SshHost>;
  /** extra `-o Key=Value` options (from an inventory's ssh-options) */
  options?: Record<string, string>;
}
