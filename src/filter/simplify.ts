// Rewrites a list of clauses into a shorter one selecting exactly the same packets: only set
// identities are used (dropping a clause another covers, and merging clauses that differ in one
// component), so no rewrite can widen or narrow the filter.
import {
  addressKey,
  addressSubset,
  addressUnion,
  portKey,
  portSubset,
  portUnion,
  protocolSubset,
  protocolUnion,
  swapped,
} from './clause.js';
import type { Clause } from './clause.js';

// Beyond this many clauses the quadratic subsumption pass is skipped; such a set is far past the
// kernel's instruction limit anyway unless the linear merge pass collapsed it.
const MAX_CLAUSES_FOR_SUBSUMPTION = 400;

/**
 * The shortest equivalent list this pass finds (merge along one component, drop covered clauses, repeat).
 * @example simplifyClauses([tcpTo10001Port80, tcpTo10001Port443]) // one clause with ports 80;443
 */
export function simplifyClauses(input: Clause[]): Clause[] {
  let clauses = input;
  for (let round = 0; round < 8; round++) {
    const before = clauses.length;
    clauses = mergeAlongOneComponent(clauses);
    if (clauses.length <= MAX_CLAUSES_FOR_SUBSUMPTION) clauses = dropSubsumed(clauses);
    if (clauses.length === before) break;
  }
  return clauses;
}

// Of a clause's two equivalent orientations, the one grouping compares; the clause itself keeps
// the user's orientation so the expression reads as they wrote it.
function isCanonicallyOriented(c: Clause): boolean {
  const localSide = addressKey(c.local) + '/' + portKey(c.localPorts);
  const remoteSide = addressKey(c.remote) + '/' + portKey(c.remotePorts);
  return localSide <= remoteSide;
}

function canonicalOrientation(c: Clause): Clause {
  return isCanonicallyOriented(c) ? c : swapped(c);
}

type Component = 'protocols' | 'local' | 'remote' | 'localPorts' | 'remotePorts';
const COMPONENTS: readonly Component[] = ['remotePorts', 'localPorts', 'remote', 'local', 'protocols'];

function componentKey(c: Clause, component: Component): string {
  switch (component) {
    case 'protocols':
      return c.protocols;
    case 'local':
      return addressKey(c.local);
    case 'remote':
      return addressKey(c.remote);
    case 'localPorts':
      return portKey(c.localPorts);
    case 'remotePorts':
      return portKey(c.remotePorts);
  }
}

// Clauses equal in all components but one are one clause whose odd component is the union:
// (A∧B∧x) ∨ (A∧B∧y) = A∧B∧(x∨y), and the orientation rule distributes the same way.
function mergeAlongOneComponent(clauses: Clause[]): Clause[] {
  let current = clauses;
  for (const component of COMPONENTS) {
    const groups = new Map<string, Clause>();
    for (const c of current) {
      const canonical = canonicalOrientation(c);
      const key = COMPONENTS.filter((k) => k !== component)
        .map((k) => componentKey(canonical, k))
        .join('#');
      const existing = groups.get(key);
      if (existing === undefined) {
        groups.set(key, c);
      } else {
        // Union in the canonical orientation, then turn back to the first member's orientation.
        const merged = unionAlong(canonicalOrientation(existing), canonical, component);
        groups.set(key, isCanonicallyOriented(existing) ? merged : swapped(merged));
      }
    }
    current = [...groups.values()];
  }
  return current;
}

function unionAlong(a: Clause, b: Clause, component: Component): Clause {
  switch (component) {
    case 'protocols':
      return { ...a, protocols: protocolUnion(a.protocols, b.protocols) };
    case 'local':
      return { ...a, local: addressUnion(a.local, b.local) };
    case 'remote':
      return { ...a, remote: addressUnion(a.remote, b.remote) };
    case 'localPorts':
      return { ...a, localPorts: portUnion(a.localPorts, b.localPorts) };
    case 'remotePorts':
      return { ...a, remotePorts: portUnion(a.remotePorts, b.remotePorts) };
  }
}

function dropSubsumed(clauses: Clause[]): Clause[] {
  const kept: Clause[] = [];
  clauses.forEach((c, i) => {
    const coveredByOther = clauses.some((other, j) => {
      if (i === j || !subsumes(other, c)) return false;
      // Of two equal clauses keep the first.
      return !subsumes(c, other) || j < i;
    });
    if (!coveredByOther) kept.push(c);
  });
  return kept;
}

function subsumes(outer: Clause, inner: Clause): boolean {
  return containsOriented(outer, inner) || containsOriented(outer, swapped(inner));
}

function containsOriented(outer: Clause, inner: Clause): boolean {
  return (
    protocolSubset(inner.protocols, outer.protocols) &&
    addressSubset(inner.local, outer.local) &&
    addressSubset(inner.remote, outer.remote) &&
    portSubset(inner.localPorts, outer.localPorts) &&
    portSubset(inner.remotePorts, outer.remotePorts)
  );
}
