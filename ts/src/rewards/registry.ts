/**
 * Rewards by name: one registry maps a name (as written in a config) to a factory that builds the
 * reward from its options. Looking up an unknown name fails with the list of valid names;
 * registering a name twice fails.
 */

import type { RewardFunction } from "./types.js";

/** Builds a reward from its (optional) options. */
export type RewardFactory<O = unknown> = (options?: O) => RewardFunction;

/** A name -> factory map with strict lookups. */
export class RewardRegistry {
  private readonly factories = new Map<string, RewardFactory<never>>();

  /** Registers `factory` under `name`; throws if the name is taken or empty. */
  register<O>(name: string, factory: RewardFactory<O>): void {
    if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name))
      throw new Error(`invalid reward name ${JSON.stringify(name)}: use letters, digits, '_', '-', '.'`);
    if (this.factories.has(name)) throw new Error(`reward ${JSON.stringify(name)} is already registered`);
    this.factories.set(name, factory as RewardFactory<never>);
  }

  /** True when `name` is registered. */
  has(name: string): boolean {
    return this.factories.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.factories.keys()].sort();
  }

  /** The factory of `name`; throws listing the valid names when it is unknown. */
  get<O = unknown>(name: string): RewardFactory<O> {
    const f = this.factories.get(name);
    if (!f)
      throw new Error(`unknown reward ${JSON.stringify(name)}; valid names: ${this.names().join(", ") || "(none)"}`);
    return f as RewardFactory<O>;
  }

  /** Builds the reward `name` with `options`. */
  create<O = unknown>(name: string, options?: O): RewardFunction {
    return this.get<O>(name)(options);
  }
}
