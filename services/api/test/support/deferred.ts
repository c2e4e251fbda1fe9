// A promise and the function settling it, for tests that hold something until a later step
// (Promise.withResolvers is Node 22; the project runs on Node 20).
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}
