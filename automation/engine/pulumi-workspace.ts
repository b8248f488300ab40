import * as auto from "@pulumi/pulumi/automation";

/**
 * What PulumiEngine needs from the Automation API to find stacks and the CLI: the real one is
 * LocalWorkspace (defaultPulumiWorkspace); tests give a fake one, so that the engine's own logic
 * (no stack created by a preview, the CLI version check, cancellation) runs without a CLI.
 */
export interface PulumiWorkspace {
  /** Rejects with the Automation API's StackNotFoundError when the stack does not exist. */
  selectStack(args: auto.LocalProgramArgs, options: auto.LocalWorkspaceOptions): Promise<auto.Stack>;
  createStack(args: auto.LocalProgramArgs, options: auto.LocalWorkspaceOptions): Promise<auto.Stack>;
  /** The CLI's version (`pulumi version`), undefined for a build without one. */
  cliVersion(): Promise<string | undefined>;
}

export const defaultPulumiWorkspace: PulumiWorkspace = {
  selectStack: (args, options) => auto.LocalWorkspace.selectStack(args, options),
  createStack: (args, options) => auto.LocalWorkspace.createStack(args, options),
  async cliVersion() {
    // The Automation API checks its own minimum; ours depends on the backend (checkCliVersion).
    const command = await auto.PulumiCommand.get({ skipVersionCheck: true });
    return command.version?.toString();
  },
};

/** What the CLI prints (as an engine stdout event) when a SIGINT or SIGTERM starts its clean cancel. */
const CLI_CANCELLING = /(\^C|SIGINT|SIGTERM) received; cancelling/;

/**
 * The signal handed to the Automation API, which sends the CLI a SIGINT when it aborts. The CLI
 * cancels cleanly on its first SIGINT or SIGTERM and terminates at once on the second, leaving the
 * stack locked mid-operation; and a Ctrl-C in a terminal, or a service manager stopping the whole
 * process group, has already signalled the CLI itself. So the abort is passed on only when the CLI
 * has not announced a cancel of its own within `waitMs` (its events arrive by polling, every 200 ms).
 */
export function cliCancelSignal(
  signal: AbortSignal,
  onEvent: ((event: auto.EngineEvent) => void) | undefined,
  waitMs: number,
): { signal: AbortSignal; onEvent: (event: auto.EngineEvent) => void; dispose: () => void } {
  const inner = new AbortController();
  let announced = false;
  let timer: NodeJS.Timeout | undefined;
  const forward = () => {
    timer = undefined;
    if (!announced) inner.abort(signal.reason);
  };
  const onAbort = () => {
    if (announced) return;
    if (waitMs <= 0) forward();
    else timer = setTimeout(forward, waitMs);
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return {
    signal: inner.signal,
    onEvent: (event) => {
      if (!announced && CLI_CANCELLING.test(event.stdoutEvent?.message ?? "")) {
        announced = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
      }
      onEvent?.(event);
    },
    dispose: () => {
      if (timer) clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    },
  };
}
