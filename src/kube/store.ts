/** The informer's local cache: the latest known version of every object, keyed by "namespace/name". */
import { type KubeObject, objectKey } from "./client.ts";

/** Read access to an informer's cache. Objects are shared: never mutate them (use `structuredClone`). */
export interface ReadStore<T extends KubeObject> {
  get(key: string): T | undefined;
  list(): T[];
  keys(): string[];
  readonly size: number;
}

/** Mutable cache used by the informer. */
export class Store<T extends KubeObject> implements ReadStore<T> {
  readonly #items = new Map<string, T>();
  get(key: string): T | undefined {
    return this.#items.get(key);
  }
  list(): T[] {
    return [...this.#items.values()];
  }
  keys(): string[] {
    return [...this.#items.keys()];
  }
  get size(): number {
    return this.#items.size;
  }
  /** Inserts or replaces; returns the previous version. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.#items.get(key);
    this.#items.set(key, obj);
    return old;
  }
  /** Removes by key; returns the removed object. */
  remove(key: string): T | undefined {
    const old = this.#items.get(key);
    this.#items.delete(key);
    return old;
  }
}
