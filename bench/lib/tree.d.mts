export function pseudoRandom(seed: number, length: number): Buffer
export function writeTree(root: string, files: Record<string, Buffer | string>): Promise<void>
export function describeTree(root: string): Record<string, string>
