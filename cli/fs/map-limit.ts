// Writing hundreds of small files one `await` at a time leaves the process idle between round trips
// to libuv's thread pool (600 generated files: ~500 ms); all at once can run out of file
// descriptors (EMFILE) in a large fleet. 32 in flight keep the pool busy.
export const FILE_CONCURRENCY = 32

// `fn` over every item with at most `limit` calls in flight; results keep the items' order. After
// the first failure no new call starts, and that failure is what the promise rejects with.
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next++
      try {
        results[index] = await fn(items[index]!, index)
      } catch (error) {
        failed = true
        throw error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
