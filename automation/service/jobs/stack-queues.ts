/**
 * One FIFO queue of job ids per stack. The head of a stack's queue holds the stack; a job runs
 * when it heads the queue of every stack it touches. Jobs join all their queues at once, in
 * arrival order, so the queues never disagree about order and a job can never wait for a job
 * that waits for it.
 */
export class StackQueues {
  private readonly queues = new Map<string, string[]>();

  /** The job holding the stack (or first in line for it), if any. */
  head(stackName: string): string | undefined {
    return this.queues.get(stackName)?.[0];
  }

  /** Puts the job at the end of each stack's queue. */
  join(jobId: string, stackNames: string[]): void {
    for (const stackName of stackNames) {
      const queue = this.queues.get(stackName);
      if (queue) queue.push(jobId);
      else this.queues.set(stackName, [jobId]);
    }
  }

  /** True when the job heads every one of its stacks' queues. */
  isHead(jobId: string, stackNames: string[]): boolean {
    return stackNames.every((stackName) => this.head(stackName) === jobId);
  }

  /**
   * Takes the job out of its stacks' queues (finished, or cancelled while waiting) and returns the
   * jobs that now head a queue it left: the ones that may be able to start.
   */
  leave(jobId: string, stackNames: string[]): string[] {
    const next = new Set<string>();
    for (const stackName of stackNames) {
      const queue = this.queues.get(stackName);
      if (!queue) continue;
      const index = queue.indexOf(jobId);
      if (index === -1) continue;
      queue.splice(index, 1);
      if (queue.length === 0) this.queues.delete(stackName);
      else if (index === 0) next.add(queue[0]);
    }
    return [...next];
  }

  /** Jobs waiting or running, over all stacks. */
  get size(): number {
    const jobs = new Set<string>();
    for (const queue of this.queues.values()) for (const jobId of queue) jobs.add(jobId);
    return jobs.size;
  }
}
