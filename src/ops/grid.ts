/** Workgroup grids for flat problems larger than one grid dimension allows. */

const MAX_GROUPS_PER_DIMENSION = 65535;

export interface FlatGrid {
  workgroups: [number, number];
  /** Invocations per grid row (groupsX · workgroupSize), for `flatIndex` in WGSL. */
  rowInvocations: number;
}

/** A [x, y] grid covering `invocations` threads with `workgroupSize`-wide groups. */
export function flatGrid(invocations: number, workgroupSize: number): FlatGrid {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  const x = Math.min(groups, MAX_GROUPS_PER_DIMENSION);
  const y = Math.ceil(groups / x);
  return { workgroups: [x, y], rowInvocations: x * workgroupSize };
}
