/** The default of a switch that handles every case: the compiler checks it is unreachable. */
export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${String(value)}`);
}
