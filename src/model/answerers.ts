// Who answers a check: the pod it names (by name or by address), or the
// backends of the Service it reaches. Read by verify (which pods get a
// responder, which checks are spread over a Service's backends) and by
// validate (which pods a NetworkPolicy must let the check reach), so that both
// judge the same pods.
import { ipOf } from '../net/ipv4.js';
import type { Check, Model, ModelService } from './lab.js';

/** The pod a check names, by name or by its address (a tcp check may name a pod by its address). */
export function podOf(model: Pick<Model, 'pods'>, target: Check['to']): string | undefined {
  if ('pod' in target) return target.pod;
  if (!('address' in target)) return undefined;
  return model.pods.find((p) => ipOf(p.address) === target.address)?.name;
}

/**
 * The Service whose backends answer a check: the one it names, or, for a tcp check, the tcp Service at whose
 * ClusterIP and port, or behind whose NodePort on a node (a udp Service may share them, as DNS's pair does).
 */
export function serviceOf(model: Pick<Model, 'services'>, check: Check): ModelService | undefined {
  const to = check.to;
  if ('service' in to) return model.services.find((s) => s.name === to.service);
  return model.services.find(
    (s) =>
      s.protocol === 'tcp' &&
      ('node' in to
        ? s.nodePort === check.port
        : 'address' in to && s.clusterIp === to.address && s.port === check.port),
  );
}

export interface Answerers {
  pods: string[];
  /** the port they answer on: the check's, or the Service's target port */
  port: number;
  /** the Service the check reaches them through (its DNAT), if any */
  service?: ModelService;
}

/**
 * Who answers a tcp or Service check: the pod it names, by name or address, or
 * the backends of its Service (serviceOf); undefined for other checks.
 */
export function answerersOf(model: Pick<Model, 'pods' | 'services'>, check: Check): Answerers | undefined {
  if (check.kind !== 'tcp' && check.kind !== 'service') return undefined;
  const pod = podOf(model, check.to);
  if (check.kind === 'tcp' && pod !== undefined) return { pods: [pod], port: check.port! };
  const service = serviceOf(model, check);
  return service && { pods: service.backends, port: service.targetPort, service };
}
