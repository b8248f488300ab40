// The page's shared state (what it shows and follows) and the job states it tells apart.

export const FINISHED_STATES = new Set(["succeeded", "failed", "cancelled", "interrupted"]);
export const ACTIVE_STATES = new Set(["queued", "running"]);

/** What the page shows and follows. */
export const state = {
  connected: false,
  /** @type {ReturnType<typeof setInterval> | undefined} */
  pollTimer: undefined,
  refreshing: false,
  refreshAgain: false,
  /** @type {any} */
  stacks: undefined,
  stacksKey: "",
  jobsKey: "",
  /**
   * The open job: its id, document, waves, engine event count and the controller that aborts
   * its event stream.
   * @type {{ id: string, job: any, controller: AbortController, waves: Map<number, string[]>, engineEvents: number, note: string, cancelling: boolean } | undefined}
   */
  view: undefined,
};
