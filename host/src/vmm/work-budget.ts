/**
 * The bound on the VMM work one guest access can cause (docs/EMBEDDING.md
 * "Work per access"). A guest invalidation makes the VMM re-read guest
 * tables and change host mappings, and a guest controls how much there is
 * to read (a table may be aliased so that a few pages describe 512^4
 * leaves). Every such step is charged to the budget of the guest's current
 * register access: one unit per guest table entry examined (second-stage
 * entries, PASID directory and table entries), one per 4 KiB page the host
 * maps or unmaps, and `HOST_CALL_COST` per host map or unmap call. Measured
 * here a unit is 0.25-0.5 us, so an access costs at most about 0.5 s
 * (docs/EMBEDDING.md). What would go over the budget is not done; the VMM
 * instead blocks what it could not verify (vmm/shadow-domains.ts), which
 * never maps anything the guest did not ask for.
 */

/** Work units one guest register access may spend in the VMM (default of VmConfig.workBudget). */
export const VMM_WORK_BUDGET = 1 << 20;

/** Units one host IOAS map or unmap call costs (about 30 us here, ~64 entry reads). */
export const HOST_CALL_COST = 64;

/** Work units left (shared by everything one guest access causes). */
export interface WorkBudget {
  left: number;
}

/** A budget refilled at every new guest register access of the unit. */
export class AccessBudget {
  private seen = -1;
  private budget: WorkBudget = { left: VMM_WORK_BUDGET };

  /** `accesses()` counts the unit's register accesses (VtdUnit.accesses). */
  constructor(private readonly accesses: () => number, private readonly units = VMM_WORK_BUDGET) {}

  /** The budget of the access in progress. */
  current(): WorkBudget {
    const n = this.accesses();
    if (n !== this.seen) {
      this.seen = n;
      this.budget = { left: this.units };
    }
    return this.budget;
  }
}
