// Every soak request runs against a deadline: a reply that has not come after this long is counted as lost.

/** A request unanswered this long is lost (well beyond any swap, upgrade or worker restart). */
export const REQUEST_DEADLINE_MS = 30_000;

/** The request outlived its deadline. */
export class UnansweredError extends Error {
  override readonly name = 'UnansweredError';
}

/** Resolves or rejects as `work` does, or rejects with {@link UnansweredError} once `ms` have passed. */
export async function withDeadline<T>(what: string, work: Promise<T>, ms = REQUEST_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UnansweredError(`${what}: no reply within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
